"""Enclave as a CDK app (Python, ``aws-cdk-lib``): the SAM path's stacks, from the same definitions.

Nothing in this package declares a resource. ``make package STAGE=...`` builds a stage's template as
before (``deploy.render`` merged into ``chalice package``'s ``sam.json``, the deployment package
precompiled by ``deploy.bytecode``), then ``python -m deploy.cdk`` synthesizes the CDK stack from it:

* ``template``: the template a stage's stack includes: ``sam.json`` expanded to plain CloudFormation
  by the SAM translator the deploy checks use (``deploy.sam.expand_sam``), each function's code
  pointing at the CDK asset of ``deployment.zip``; and ``drift_problems``, which compares a
  synthesized stack with the SAM template resource by resource;
* ``app``: the stacks. ``enclave-<stage>`` (one per production stage, in its region) includes that
  template with ``CfnInclude`` (every logical id kept, every resource a CDK L1 object:
  ``stack.included.get_resource("DataKey")``); ``enclave-replica-keys`` (one per replica-only region)
  includes ``deploy.render.render_key_region``. The global entry (``prod-use1``) and the witness
  buckets (every stage) are in the stage templates, as on the SAM path.

Why the expanded template rather than ``sam.json`` with its transform: the SAM template names resources
only the transform creates (the ``live`` alias the REST API invokes), which ``CfnInclude`` cannot
resolve; and expanded here, the template CloudFormation receives is the one cfn-lint and checkov
checked. Why not Chalice's own construct (``chalice.cdk.Chalice``): its packaging takes no merge
template (the keys, tables, buckets, alarms and the changes to Chalice's functions would be missing),
imports ``app.py`` into the synth process and skips the bytecode step. docs/deploy-cdk.md says which
path to deploy with.
"""
