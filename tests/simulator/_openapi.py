"""Esper's published OpenAPI 2.0 fragments, assembled into one document and corrected by the docs.

The fragments (MIT, Copyright (c) Shoonya, Inc) live outside this repository, in
``../shared/reference/esper-openapi/`` beside the checkout (or ``$ESPER_OPENAPI_DIR``); nothing of
them is copied into the project. `load` reads them and applies `CORRECTIONS` each time.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

__all__ = ["CORRECTIONS", "assemble", "load", "reference_dir"]

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = [
    "ADD_TO_WHITELIST", "ADD_WIFI_AP", "CLEAR_APP_DATA", "INSTALL", "LOCK", "REBOOT",
    "REMOVE_FROM_WHITELIST", "REMOVE_WIFI_AP", "SET_APP_PERMISSION", "SET_APP_STATE",
    "SET_BLUETOOTH_STATE", "SET_BRIGHTNESS_SCALE", "SET_DEVICE_LOCKDOWN_STATE", "SET_GPS_STATE",
    "SET_KIOSK_APP", "SET_NEW_POLICY", "SET_ROTATION_STATE", "SET_SCREEN_OFF_TIMEOUT",
    "SET_STREAM_VOLUME", "SET_TIMEZONE", "SET_WIFI_STATE", "UNINSTALL", "UPDATE_DEVICE_CONFIG",
    "UPDATE_HEARTBEAT", "UPDATE_LATEST_DPC", "WIPE", "RESET_LOCKSCREEN_PASSWORD",
    "UPDATE_BLUEPRINT", "CAPTURE_SCREENSHOT", "NOTIFY_DEVICE", "SET_DEVICE_LANGUAGE",
    "SET_ETHERNET_SETTINGS", "SET_STATIC_IP", "BEEP_DEVICE", "SET_APP_NOTIFICATIONS",
    "USE_ONLY_SAVED_WIFI_AP", "CONVERGE",
]  # fmt: skip

CORRECTIONS = [
    "One Swagger 2.0 document: basePath /api, the apiKey scheme (header Authorization, "
    "'Bearer <key>') on every operation, JSON in and out (the spec's introduction).",
    "Only what Commands V2 clients call: the two command paths and the history path, and the "
    "device and group listings (GET); the group-create operation is left out (not simulated).",
    "V0CommandRequest.devices: at most 1000 items, not 500 (docs page: [ 0 .. 1000 ]).",
    "V0DeviceCommandEnum: the 37 commands of the docs page, not the 26 of the fragment.",
    "V0CommandRequestStatus.state: a plain string, not format uuid (a state such as "
    "'Command Success').",
    "V0CommandStatus.device: format uuid, not url (the docs sample and the SDK).",
    "V0CommandRequest.issued_by: a plain string, not format url (the SDK; a user id).",
    "V0CommandArgs.timezone_string: type string, not integer (docs page: a valid string).",
    "Every page's next and previous: x-nullable (DRF sends null on the first and last page).",
    "Create answers 201, 400, 401, 403 and 500; the listings 200, 400 (a malformed filter), "
    "401, 404 and 500 (docs page), each error with the error body {errors, message, status}.",
    "Device: the fields Esper leaves empty are x-nullable (current_command, fcm_id, policy, "
    "user, template_name, mqtt_id, emm_device); EmmDevice, referenced but not included, is an "
    "open object.",
    "DeviceGroup.parent: x-nullable (a top-level group has none).",
    "limit and offset: declared strings, since Esper's pagination is DRF's LimitOffsetPagination, "
    "which reads a malformed or negative value as the default instead of refusing it.",
]
"""What the assembled document changes in Esper's fragments, and on what authority."""


def reference_dir() -> Path:
    """Where the fragments are: ``$ESPER_OPENAPI_DIR`` or ``../shared/reference/esper-openapi``."""
    return Path(
        os.environ.get("ESPER_OPENAPI_DIR", ROOT.parent / "shared" / "reference" / "esper-openapi")
    )


def _error_responses(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Bad request",
        401: "Authorization information is missing or invalid.",
        403: "Forbidden, no permission to perform this action.",
        404: "Not Found.",
        500: "Internal server error",
    }
    return {
        str(s): {"description": words[s], "schema": {"$ref": "#/definitions/Error"}}
        for s in statuses
    }


def assemble(fragments: Path) -> dict[str, Any]:
    """The corrected document, built from the fragment files under `fragments`."""
    # schemathesis's own dependency (no stubs); only needed to rebuild the document.
    import yaml  # type: ignore[import-untyped]

    def read(relative: str) -> Any:
        return yaml.safe_load((fragments / relative).read_text())

    definitions = {
        p.stem: read(f"definitions/{p.name}") for p in sorted(fragments.glob("definitions/*.yaml"))
    }
    paths = {
        "/v0/enterprise/{enterprise_id}/command/": read("paths/commands.yaml"),
        "/v0/enterprise/{enterprise_id}/command/{request_id}/status/": read(
            "paths/command-status.yaml"
        ),
        "/v0/enterprise/{enterprise_id}/device/{device_id}/command-history/": read(
            "paths/device-command-history.yaml"
        ),
        "/enterprise/{enterprise_id}/device/": read("paths/devices.yaml"),
        "/enterprise/{enterprise_id}/devicegroup/": read("paths/devicegroups.yaml"),
    }
    groups = paths["/enterprise/{enterprise_id}/devicegroup/"]
    groups.pop("post")
    # The path-level parameter has no format; the fragment's GET has no enterprise_id of its own.
    groups["parameters"][0]["format"] = "uuid"

    request = definitions["V0CommandRequest"]["properties"]
    request["devices"]["maxItems"] = 1000
    request["issued_by"].pop("format")
    definitions["V0DeviceCommandEnum"]["enum"] = list(COMMANDS)
    definitions["V0CommandRequestStatus"]["properties"]["state"].pop("format")
    definitions["V0CommandStatus"]["properties"]["device"]["format"] = "uuid"
    definitions["V0CommandArgs"]["properties"]["timezone_string"]["type"] = "string"
    device = definitions["Device"]["properties"]
    for name in ("current_command", "fcm_id", "policy", "user", "template_name", "mqtt_id"):
        device[name]["x-nullable"] = True
    device["emm_device"] = {"type": "object", "x-nullable": True}
    definitions["DeviceGroup"]["properties"]["parent"]["x-nullable"] = True
    definitions["Error"] = {
        "type": "object",
        "required": ["errors", "message", "status"],
        "properties": {
            "errors": {"type": "array", "items": {"type": "string"}},
            "message": {"type": "string"},
            "status": {"type": "integer"},
        },
    }

    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                if parameter["name"] in ("limit", "offset"):
                    parameter["type"] = "string"
                    parameter.pop("default", None)
            responses = operation["responses"]
            ok = responses.pop(201 if method == "post" else "200", None) or responses.pop(
                "201" if method == "post" else 200, None
            )
            if ok is None:
                raise ValueError(f"{method.upper()} {path}: no success response in the fragment")
            schema = ok.get("schema", {})
            for link in ("next", "previous"):
                if link in schema.get("properties", {}):
                    schema["properties"][link]["x-nullable"] = True
            if method == "post":
                operation["responses"] = {"201": ok, **_error_responses(400, 401, 403, 500)}
            else:
                operation["responses"] = {"200": ok, **_error_responses(400, 401, 404, 500)}
            operation["security"] = [{"apiKey": []}]

    return {
        "swagger": "2.0",
        "info": {
            "title": "Esper Commands V2 (assembled, corrected)",
            "version": "1",
            "description": "Assembled by tests/simulator/_openapi.py from Esper's OpenAPI "
            "fragments (MIT License, Copyright (c) Shoonya, Inc), with these corrections from "
            "Esper's docs page: " + " | ".join(CORRECTIONS),
            "license": {"name": "MIT (the fragments: Copyright (c) Shoonya, Inc)"},
        },
        "basePath": "/api",
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}
        },
        "paths": copy.deepcopy(paths),
        "definitions": definitions,
    }


def load() -> dict[str, Any]:
    """The corrected document, assembled from the fragments beside the checkout."""
    return assemble(reference_dir())
