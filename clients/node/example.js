#!/usr/bin/env node
// A walk through pushgate's API from Node, against a server started with `pushgate serve --sandbox`.
//
// It creates an app (admin token), exchanges the app's credentials for an app token, creates the sandbox's
// FCM notifier, binds a device to it, pushes to the device with SendSync, then pushes again through a list
// task and follows the task's WatchTask stream until it ends. It prints each step and exits 1 when anything
// fails.
//
// Settings, from the environment:
//   PUSHGATE_ENDPOINT           host:port of the server; default 127.0.0.1:50051 (an http:// prefix is fine)
//   PUSHGATE_ADMIN_TOKEN        the admin token; else the contents of PUSHGATE_ADMIN_TOKEN_FILE
//                               (default ./pushgate-data/admin-token, where the server wrote it)
//   PUSHGATE_SANDBOX_NOTIFIERS  the CreateNotifier bodies the sandbox wrote;
//                               default ./pushgate-sandbox/notifiers.json
//   PUSHGATE_APP                the app to create, org#app; default examples#node-<random>
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = path.resolve(__dirname, "../../proto");
const NOTIFIER = "sandbox-fcm";
const USER = "alice";
const DEVICE = "alice-pixel";
// Shaped like an FCM registration token (instance id, colon, base64url blob), which the FCM fake checks.
const DEVICE_TOKEN =
  "node-example:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8OvPVGJ-hQMRKRrZuJAEcl7B338qju59zJMjw2DELjzE" +
  "vxwYv7hH5Ynpc1ODQ0aT4U4OFEeco8ohsN5PjL1iC2dNtk2BAokeMCg2ZXKqpc8FXKmhX94kIxQ";
// Every call gets a deadline, so a stuck server fails the example instead of hanging it.
const CALL_TIMEOUT_MS = 15000;
const WATCH_TIMEOUT_MS = 60000;

class Failed extends Error {}

// The stubs: every .proto of the contract, loaded at run time. The options make the objects match proto3
// JSON (lowerCamelCase names, enums as their names, 64-bit integers as strings), so the sandbox's JSON
// notifier bodies can be passed as they are.
function loadStubs() {
  const dir = path.join(PROTO_ROOT, "pushgate", "v1");
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".proto"))
    .sort()
    .map((f) => `pushgate/v1/${f}`);
  const definition = protoLoader.loadSync(files, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).pushgate.v1;
}

function bearer(token) {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

function deadline(ms) {
  return new Date(Date.now() + ms);
}

// A unary call as a promise.
function call(client, method, request, metadata = new grpc.Metadata()) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: deadline(CALL_TIMEOUT_MS) }, (err, response) =>
      err ? reject(err) : resolve(response),
    );
  });
}

function adminToken() {
  const token = (process.env.PUSHGATE_ADMIN_TOKEN || "").trim();
  if (token) {
    return token;
  }
  const file = process.env.PUSHGATE_ADMIN_TOKEN_FILE || "pushgate-data/admin-token";
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new Failed(`no PUSHGATE_ADMIN_TOKEN and cannot read ${file}: ${e.message}`);
  }
}

// The sandbox's ready-made CreateNotifier body named `wanted` (proto3 JSON, which proto-loader accepts).
function sandboxNotifier(wanted) {
  const file = process.env.PUSHGATE_SANDBOX_NOTIFIERS || "pushgate-sandbox/notifiers.json";
  let bodies;
  try {
    bodies = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Failed(`cannot read the sandbox notifiers from ${file}: ${e.message}`);
  }
  const body = bodies.find((b) => b.notifier && b.notifier.name === wanted);
  if (!body) {
    throw new Failed(`${file} has no notifier ${wanted}`);
  }
  return body;
}

// Reads a server stream to its end, printing each item; resolves with the last one.
function readWatch(stream, taskId) {
  return new Promise((resolve, reject) => {
    let last = null;
    stream.on("data", (item) => {
      const p = item.progress;
      console.log(
        `watch ${taskId}: ${p.state} users ${p.usersDone}/${p.usersTotal}, ` +
          `success ${p.successCount}, fail ${p.failCount}, error ${p.errorCount}`,
      );
      last = p;
    });
    stream.on("error", reject);
    stream.on("end", () => resolve(last));
  });
}

async function walk(pushgate, endpoint) {
  const credentials = grpc.credentials.createInsecure();
  const client = (Service) => new Service(endpoint, credentials);
  const admin = bearer(adminToken());

  const appName = process.env.PUSHGATE_APP || `examples#node-${crypto.randomBytes(4).toString("hex")}`;
  const created = await call(client(pushgate.AppService), "CreateApp", { name: appName }, admin);
  console.log(`created app ${created.app.name} (client id ${created.app.clientId})`);

  // IssueToken is the one call without a bearer token: the client id and secret are the credentials.
  const issued = await call(client(pushgate.AuthService), "IssueToken", {
    clientId: created.app.clientId,
    clientSecret: created.clientSecret,
  });
  const expires = new Date(Number(issued.expireTime.seconds) * 1000).toISOString();
  console.log(`issued an app token for ${issued.app}, valid until ${expires}`);
  const app = bearer(issued.accessToken);

  const notifier = await call(client(pushgate.NotifierService), "CreateNotifier", sandboxNotifier(NOTIFIER), app);
  console.log(`created notifier ${notifier.notifier.name} (${notifier.notifier.vendor})`);

  const bound = await call(
    client(pushgate.DeviceService),
    "BindDevice",
    { user: USER, deviceId: DEVICE, deviceToken: DEVICE_TOKEN, notifierName: NOTIFIER },
    app,
  );
  console.log(`bound device ${DEVICE} of ${USER}: ${bound.outcome}`);

  const sent = await call(
    client(pushgate.PushService),
    "SendSync",
    { user: USER, message: { title: "Hello from Node", content: "SendSync to one user" } },
    app,
  );
  for (const r of sent.results) {
    console.log(
      `SendSync ${sent.messageId}: device ${r.deviceId || "-"} ${r.status} via ${r.notifierName || "-"} ` +
        `(vendor message id ${r.vendorMessageId || "-"})`,
    );
  }
  const mine = sent.results.filter((r) => r.deviceId === DEVICE);
  if (mine.length !== 1 || mine[0].status !== "DELIVERY_STATUS_SUCCESS") {
    throw new Failed(`SendSync did not succeed for ${DEVICE}: ${JSON.stringify(sent)}`);
  }

  const tasks = client(pushgate.TaskService);
  const { task } = await call(
    tasks,
    "CreateListTask",
    { users: [USER], message: { title: "Hello again", content: "A list task from Node" } },
    app,
  );
  console.log(`created list task ${task.id} for ${task.listSize} user(s): ${task.state}`);

  const stream = tasks.WatchTask({ taskId: task.id, minInterval: { seconds: 0, nanos: 200000000 } }, app, {
    deadline: deadline(WATCH_TIMEOUT_MS),
  });
  // The stream ends by itself after the item with the final state.
  const last = await readWatch(stream, task.id);
  if (!last || last.state !== "TASK_STATE_COMPLETED") {
    throw new Failed(`task ${task.id} did not complete: ${JSON.stringify(last)}`);
  }
  // 64-bit counters arrive as strings (longs: String), so that none loses precision.
  if (last.successCount !== "1") {
    throw new Failed(`task ${task.id} completed without its one successful push: ${JSON.stringify(last)}`);
  }
  console.log(`task ${task.id} completed`);
}

async function main() {
  // The CLI takes a URL (http://host:port); grpc-js takes host:port. Accept both so one setting serves both.
  const endpoint = (process.env.PUSHGATE_ENDPOINT || "127.0.0.1:50051").replace(/^http:\/\//, "").replace(/\/+$/, "");
  try {
    await walk(loadStubs(), endpoint);
  } catch (e) {
    if (e instanceof Failed) {
      console.error(`FAILED: ${e.message}`);
    } else if (e.code !== undefined && e.details !== undefined) {
      console.error(`FAILED: ${grpc.status[e.code]}: ${e.details}`);
    } else {
      console.error(`FAILED: ${e.stack || e}`);
    }
    return 1;
  }
  console.log("OK: every step succeeded");
  return 0;
}

main().then((code) => {
  process.exitCode = code;
});
