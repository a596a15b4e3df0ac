-- Device bindings, push labels, tasks, the queue of accepted pushes and idempotent answers. As in 0001: the
-- prost record sled stores (`record`) beside the columns queries select, order and limit by; text keys
-- COLLATE "C" so that pages come in sled's byte order; every table has an `app` column (deleting an app
-- deletes its rows from each).

-- One row per (user, device, notifier). A device belongs to one user at a time and a token to one binding
-- per notifier: `bind` keeps both true under transaction locks (postgres/bindings.rs), not constraints.
CREATE TABLE bindings (
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    notifier text COLLATE "C" NOT NULL,
    token text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    -- A user's bindings, the app's (by user, device, notifier) and its distinct users.
    PRIMARY KEY (app, user_id, device_id, notifier)
);
-- A notifier's bindings in (user, device) order.
CREATE INDEX bindings_by_notifier ON bindings (app, notifier, user_id, device_id);
-- Who owns a device.
CREATE INDEX bindings_by_device ON bindings (app, device_id);
-- Who holds a token. Hash, not B-tree: tokens may be up to 4096 characters, past a B-tree entry's limit.
CREATE INDEX bindings_by_token ON bindings USING hash (token);

-- `user_count` is the label's exact number of rows in `label_users`, changed in the statement that changes
-- them; `record` holds the rest of the LabelRecord.
CREATE TABLE labels (
    app text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    user_count bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, name)
);

-- `record` is the LabelUserRecord.
CREATE TABLE label_users (
    app text COLLATE "C" NOT NULL,
    label text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    -- A label's users in user order: its pages, and each label's part of a union of labels.
    PRIMARY KEY (app, label, user_id)
);
-- A user's labels.
CREATE INDEX label_users_by_user ON label_users (app, user_id, label);

-- `kind`, `ended` (the state is final), `create_ms`, `start_ms` and `end_ms` mirror the TaskRecord for the
-- admission counts, the open tasks and the removal of ended ones.
CREATE TABLE tasks (
    app text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    kind integer NOT NULL,
    ended boolean NOT NULL,
    create_ms bigint NOT NULL,
    start_ms bigint NOT NULL,
    end_ms bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, id)
);
-- Broadcasts in an admission's window.
CREATE INDEX tasks_by_creation ON tasks (app, kind, create_ms);
-- Tasks that have not ended: the running ones an admission counts, and the ones resumed at start.
CREATE INDEX tasks_open ON tasks (app, id) WHERE NOT ended;
-- Ended tasks, oldest end first, for their removal.
CREATE INDEX tasks_ended ON tasks (end_ms) WHERE ended;

CREATE TABLE task_users (
    app text COLLATE "C" NOT NULL,
    task text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (app, task, user_id)
);

-- Accepted pushes in acceptance order (`seq`, which the queue keys encode). `holder` is NULL when nobody
-- holds the entry; a claim counts while `until_ms` is later than the claimer's now. Keyed by `seq` alone, not
-- app first: claims scan the whole queue in key order.
CREATE TABLE push_queue (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app text COLLATE "C" NOT NULL,
    holder text COLLATE "C",
    until_ms bigint NOT NULL,
    record bytea NOT NULL
);

-- A kept answer (`running` false, `record` the IdempotentAnswer) or the claim of the call running now
-- (`running` true); either counts while `expire_ms` is later than the caller's now. `claimed_by` is the
-- transaction that last claimed the row (`begin_idempotent` tells its own claim by it).
CREATE TABLE idempotent_answers (
    app text COLLATE "C" NOT NULL,
    rpc text COLLATE "C" NOT NULL,
    request_id text COLLATE "C" NOT NULL,
    running boolean NOT NULL,
    expire_ms bigint NOT NULL,
    claimed_by bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, rpc, request_id)
);
-- What the sweep removes.
CREATE INDEX idempotent_answers_by_expiry ON idempotent_answers (expire_ms);
