"""What ``chalice package`` will generate for a stage, asked of Chalice itself.

The merge template has to name resources that Chalice creates (the functions, their roles, the REST
API's routes) to add concurrency, alarms, log groups and key-policy principals to them. Rather than
guess the logical ids, this module builds Chalice's own application graph for the stage and applies
Chalice's own naming (``api_handler`` becomes ``APIHandler``, ``retention_role`` ``RetentionRole``).
With ``autogen_policy: false`` every function gets its own role, so a new scheduled function gets
its role into the key policies without anyone editing this file.

Loading the graph imports ``app.py`` with the stage's environment variables, as ``chalice package``
does; run it in a process of its own (``python -m deploy.render``), not inside another test session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from deploy.stages import PROJECT_ROOT

API_HANDLER = "APIHandler"
"""Chalice's fixed logical id of the REST API's function."""


@dataclass(frozen=True)
class Function:
    logical_id: str
    role_logical_id: str
    function_name: str
    is_api_handler: bool


@dataclass(frozen=True)
class AppModel:
    functions: tuple[Function, ...]
    routes: tuple[tuple[str, str], ...]
    """(path, lower-case method) of every REST route, as the swagger document keys them."""

    @property
    def role_logical_ids(self) -> list[str]:
        return sorted({function.role_logical_id for function in self.functions})


def load_app_model(stage: str) -> AppModel:
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import to_cfn_resource_name

    factory = CLIFactory(str(PROJECT_ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    application = ApplicationGraphBuilder().build(config, stage)
    functions: list[Function] = []
    for resource in DependencyBuilder().build_dependencies(application):
        if not isinstance(resource, models.LambdaFunction):
            continue
        role: Any = resource.role
        if not isinstance(role, models.ManagedIAMRole):
            raise ValueError(f"{resource.resource_name}: the deploy templates expect Chalice-managed roles")
        is_api = resource.resource_name == "api_handler"
        functions.append(Function(
            logical_id=API_HANDLER if is_api else to_cfn_resource_name(resource.resource_name),
            role_logical_id=to_cfn_resource_name(role.resource_name),
            function_name=resource.function_name,
            is_api_handler=is_api,
        ))
    routes = tuple(
        (path, method.lower())
        for path, methods in sorted(config.chalice_app.routes.items())
        for method in sorted(methods)
    )
    return AppModel(functions=tuple(sorted(functions, key=lambda f: f.logical_id)), routes=routes)
