"""The hourly reminders job of a stage: its EventBridge Scheduler schedule, the schedule's role, the SES identity.

``app.py`` declares the job as a plain Lambda function (``@app.lambda_function(name="reminders")``); Chalice's
own ``@app.schedule`` would make an EventBridge *rule*, so the schedule is declared here as an
``AWS::Scheduler::Schedule`` (hourly, retried twice within the hour) invoking it through a role that may invoke
that one function and nothing else. The SES identity is the domain of the stage's ``alert_sender`` (its DKIM
records are published by whoever owns the domain; SES sends nothing from it until it is verified).
"""

from __future__ import annotations

from deploy.appmodel import AppModel
from deploy.render.common import Resource, tags
from deploy.stages import Stage

REMINDERS_FUNCTION = "Reminders"
"""Chalice's logical id of ``reminders`` in app.py."""
SCHEDULE = "rate(1 hour)"


def alert_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    function = next((f for f in app.functions if f.logical_id == REMINDERS_FUNCTION), None)
    if function is None:
        return {}
    # ``*`` for the account, as in every policy of deploy/iam.py; region and function name exact
    function_arn = f"arn:aws:lambda:{stage.region}:*:function:{function.function_name}"
    return {
        "RemindersScheduleRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
                "Policies": [{"PolicyName": "invoke-the-reminders-function", "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                                   "Resource": [function_arn]}],
                }}],
                "Tags": tags(stage.name),
            },
        },
        "RemindersSchedule": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "Name": f"enclave-{stage.name}-reminders",
                "Description": "Hourly: tell the people who act of requests and incident deadlines due soon or "
                               "passed and of audit findings (e-mail and the console's inbox)",
                "ScheduleExpression": SCHEDULE,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Target": {
                    "Arn": {"Fn::GetAtt": [REMINDERS_FUNCTION, "Arn"]},
                    "RoleArn": {"Fn::GetAtt": ["RemindersScheduleRole", "Arn"]},
                    "Input": "{}",
                    "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3000},
                },
            },
        },
        "AlertSenderIdentity": {
            "Type": "AWS::SES::EmailIdentity",
            "Properties": {"EmailIdentity": stage.settings.alert_domain},
        },
    }
