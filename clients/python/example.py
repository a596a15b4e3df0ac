#!/usr/bin/env python3
"""A walk through pushgate's API from Python, against a server started with `pushgate serve --sandbox`.

It creates an app (admin token), exchanges the app's credentials for an app token, creates the sandbox's
FCM notifier, binds a device to it, pushes to the device with SendSync, then pushes again through a list task
and follows the task's WatchTask stream until it ends. It prints each step and exits 1 when anything fails.

Settings, from the environment:
  PUSHGATE_ENDPOINT           host:port of the server; default 127.0.0.1:50051 (an http:// prefix is fine)
  PUSHGATE_ADMIN_TOKEN        the admin token; else the contents of PUSHGATE_ADMIN_TOKEN_FILE
                              (default ./pushgate-data/admin-token, where the server wrote it)
  PUSHGATE_SANDBOX_NOTIFIERS  the CreateNotifier bodies the sandbox wrote;
                              default ./pushgate-sandbox/notifiers.json
  PUSHGATE_APP                the app to create, org#app; default examples#python-<random>
Stubs: run gen.py first; they are read from ./gen beside this file unless PYTHONPATH already has them.
"""

import json
import os
import pathlib
import secrets
import sys

# The stubs are generated, not committed: ./gen is the default place, appended so that a PYTHONPATH
# holding fresher stubs wins.
sys.path.append(str(pathlib.Path(__file__).resolve().parent / "gen"))

import grpc  # noqa: E402
from google.protobuf import duration_pb2, json_format  # noqa: E402

try:
    from pushgate.v1 import (  # noqa: E402
        app_pb2,
        app_pb2_grpc,
        auth_pb2,
        auth_pb2_grpc,
        common_pb2,
        device_pb2,
        device_pb2_grpc,
        message_pb2,
        notifier_pb2,
        notifier_pb2_grpc,
        push_pb2,
        push_pb2_grpc,
        task_pb2,
        task_pb2_grpc,
    )
except ImportError as e:
    sys.exit(f"the generated stubs are missing ({e}): run `python gen.py` first")

NOTIFIER = "sandbox-fcm"
USER = "alice"
DEVICE = "alice-pixel"
# Shaped like an FCM registration token (instance id, colon, base64url blob), which the FCM fake checks.
DEVICE_TOKEN = (
    "python-example:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8OvPVGJ-hQMRKRrZuJAEcl7B338qju59zJMjw2DELjzE"
    "vxwYv7hH5Ynpc1ODQ0aT4U4OFEeco8ohsN5PjL1iC2dNtk2BAokeMCg2ZXKqpc8FXKmhX94kIxQ"
)
# Every call gets a deadline, so a stuck server fails the example instead of hanging it.
CALL_TIMEOUT = 15.0
WATCH_TIMEOUT = 60.0


class Failed(Exception):
    """A step did not give what the walk-through expects."""


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


def name(enum_type, value: int) -> str:
    return enum_type.Name(value)


def admin_token() -> str:
    token = os.environ.get("PUSHGATE_ADMIN_TOKEN", "").strip()
    if token:
        return token
    path = pathlib.Path(os.environ.get("PUSHGATE_ADMIN_TOKEN_FILE", "pushgate-data/admin-token"))
    try:
        return path.read_text().strip()
    except OSError as e:
        raise Failed(f"no PUSHGATE_ADMIN_TOKEN and cannot read {path}: {e}") from e


def sandbox_notifier(wanted: str) -> notifier_pb2.CreateNotifierRequest:
    """The sandbox's ready-made CreateNotifier body named `wanted`, parsed from its proto3 JSON."""
    path = pathlib.Path(os.environ.get("PUSHGATE_SANDBOX_NOTIFIERS", "pushgate-sandbox/notifiers.json"))
    try:
        bodies = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise Failed(f"cannot read the sandbox notifiers from {path}: {e}") from e
    for body in bodies:
        if body.get("notifier", {}).get("name") == wanted:
            return json_format.ParseDict(body, notifier_pb2.CreateNotifierRequest())
    raise Failed(f"{path} has no notifier {wanted}")


def walk(channel: grpc.Channel) -> None:
    admin = bearer(admin_token())

    app_name = os.environ.get("PUSHGATE_APP") or f"examples#python-{secrets.token_hex(4)}"
    created = app_pb2_grpc.AppServiceStub(channel).CreateApp(
        app_pb2.CreateAppRequest(name=app_name), metadata=admin, timeout=CALL_TIMEOUT
    )
    print(f"created app {created.app.name} (client id {created.app.client_id})")

    # IssueToken is the one call without a bearer token: the client id and secret are the credentials.
    issued = auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
        auth_pb2.IssueTokenRequest(client_id=created.app.client_id, client_secret=created.client_secret),
        timeout=CALL_TIMEOUT,
    )
    print(f"issued an app token for {issued.app}, valid until {issued.expire_time.ToJsonString()}")
    app = bearer(issued.access_token)

    notifier = notifier_pb2_grpc.NotifierServiceStub(channel).CreateNotifier(
        sandbox_notifier(NOTIFIER), metadata=app, timeout=CALL_TIMEOUT
    )
    print(f"created notifier {notifier.notifier.name} ({name(common_pb2.Vendor, notifier.notifier.vendor)})")

    bound = device_pb2_grpc.DeviceServiceStub(channel).BindDevice(
        device_pb2.BindDeviceRequest(user=USER, device_id=DEVICE, device_token=DEVICE_TOKEN, notifier_name=NOTIFIER),
        metadata=app,
        timeout=CALL_TIMEOUT,
    )
    print(f"bound device {DEVICE} of {USER}: {name(device_pb2.BindDeviceOutcome, bound.outcome)}")

    sent = push_pb2_grpc.PushServiceStub(channel).SendSync(
        push_pb2.SendSyncRequest(
            user=USER,
            message=message_pb2.PushMessage(title="Hello from Python", content="SendSync to one user"),
        ),
        metadata=app,
        timeout=CALL_TIMEOUT,
    )
    for result in sent.results:
        status = name(common_pb2.DeliveryStatus, result.status)
        print(
            f"SendSync {sent.message_id}: device {result.device_id or '-'} {status}"
            f" via {result.notifier_name or '-'} (vendor message id {result.vendor_message_id or '-'})"
        )
    mine = [r for r in sent.results if r.device_id == DEVICE]
    if len(mine) != 1 or mine[0].status != common_pb2.DELIVERY_STATUS_SUCCESS:
        raise Failed(f"SendSync did not succeed for {DEVICE}: {sent}")

    tasks = task_pb2_grpc.TaskServiceStub(channel)
    task = tasks.CreateListTask(
        task_pb2.CreateListTaskRequest(
            users=[USER],
            message=message_pb2.PushMessage(title="Hello again", content="A list task from Python"),
        ),
        metadata=app,
        timeout=CALL_TIMEOUT,
    ).task
    print(f"created list task {task.id} for {task.list_size} user(s): {name(task_pb2.TaskState, task.state)}")

    last = None
    watch = tasks.WatchTask(
        task_pb2.WatchTaskRequest(task_id=task.id, min_interval=duration_pb2.Duration(nanos=200_000_000)),
        metadata=app,
        timeout=WATCH_TIMEOUT,
    )
    # The stream ends by itself after the item with the final state.
    for item in watch:
        p = item.progress
        print(
            f"watch {task.id}: {name(task_pb2.TaskState, p.state)} users {p.users_done}/{p.users_total},"
            f" success {p.success_count}, fail {p.fail_count}, error {p.error_count}"
        )
        last = p
    if last is None or last.state != task_pb2.TASK_STATE_COMPLETED:
        raise Failed(f"task {task.id} did not complete: {last}")
    if last.success_count != 1:
        raise Failed(f"task {task.id} completed without its one successful push: {last}")
    print(f"task {task.id} completed")


def main() -> int:
    endpoint = os.environ.get("PUSHGATE_ENDPOINT", "127.0.0.1:50051")
    # The CLI takes a URL (http://host:port); grpc takes host:port. Accept both so one setting serves both.
    endpoint = endpoint.removeprefix("http://").rstrip("/")
    try:
        with grpc.insecure_channel(endpoint) as channel:
            walk(channel)
    except grpc.RpcError as e:
        print(f"FAILED: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    print("OK: every step succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
