-- The event log, the callback outbox and the own channel's inboxes. Records that the store only hands back
-- whole are the prost messages sled stores (`record`); what SQL itself reads and changes (receipts' flags,
-- counters, due times, subscribe times) is plain columns, so those writes are single statements. Every key
-- starts with the app; text compares byte-wise (COLLATE "C") so orders match sled's keys.

-- Positions of every app's events, from one sequence, so a position is never given twice, even to an app
-- deleted and created again (sled's ids behave so). CACHE must stay 1: with cached blocks two sessions would
-- hand out interleaved values, and an append could take a position below one committed before it.
CREATE SEQUENCE event_positions AS bigint CACHE 1;

-- One row per app that has appended: its row lock orders the app's appends (see `postgres/events.rs`), and
-- `swept_through` is the highest position the retention removed.
CREATE TABLE event_heads (
    app text COLLATE "C" PRIMARY KEY,
    swept_through bigint NOT NULL DEFAULT 0
);

-- `recorded_ms` is the event's timestamp, which the retention sweeps by.
CREATE TABLE events (
    app text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    recorded_ms bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, position)
);

CREATE INDEX events_by_time ON events (recorded_ms);

-- Each callback rule's place in the event log.
CREATE TABLE outbox_cursors (
    app text COLLATE "C" NOT NULL,
    rule text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (app, rule)
);

-- Each callback rule's pause state (`PauseRecord`).
CREATE TABLE outbox_pauses (
    app text COLLATE "C" NOT NULL,
    rule text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, rule)
);

-- Callbacks waiting (`PendingCallback`), per receiver (the event's device, or `@user`) in position order.
CREATE TABLE outbox_waiting (
    app text COLLATE "C" NOT NULL,
    rule text COLLATE "C" NOT NULL,
    receiver text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, rule, receiver, position)
);

-- Receivers with callbacks waiting, and when their first one is due (never below 0, as sled's due keys). A
-- row exists exactly while the receiver has waiting callbacks; its lock orders the writes to them.
CREATE TABLE outbox_receivers (
    app text COLLATE "C" NOT NULL,
    rule text COLLATE "C" NOT NULL,
    receiver text COLLATE "C" NOT NULL,
    due_ms bigint NOT NULL,
    PRIMARY KEY (app, rule, receiver)
);

CREATE INDEX outbox_receivers_by_due ON outbox_receivers (app, rule, due_ms, receiver);

-- Callbacks given up on (`FailedCallback`), oldest event first.
CREATE TABLE failed_callbacks (
    app text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    rule text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, position, rule)
);

CREATE INDEX failed_callbacks_by_rule ON failed_callbacks (app, rule, position);

-- Inbox positions, never given twice (an inbox emptied and filled again keeps increasing); CACHE 1 for the
-- same reason as `event_positions`.
CREATE SEQUENCE inbox_positions AS bigint CACHE 1;

-- Inbox entries (`InboxEntry`), per device in position order.
CREATE TABLE inbox_entries (
    app text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, device_id, position)
);

-- How many entries a device's inbox holds; no row for an empty inbox.
CREATE TABLE inbox_counts (
    app text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    entries bigint NOT NULL CHECK (entries > 0),
    PRIMARY KEY (app, device_id)
);

-- One receipt per push to a device for a user (the fields of `InboxReceipt`), kept after its entry is acked
-- or evicted until it expires at `purge_at_ms`.
CREATE TABLE inbox_receipts (
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    task_id text COLLATE "C" NOT NULL,
    purge_at_ms bigint NOT NULL,
    delivered boolean NOT NULL,
    clicked boolean NOT NULL,
    PRIMARY KEY (app, user_id, device_id, message_id)
);

CREATE INDEX inbox_receipts_by_purge ON inbox_receipts (purge_at_ms);

-- Devices that subscribed to the own channel as a user (the fields of `ChannelDeviceRecord`).
CREATE TABLE channel_devices (
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    first_subscribe_ms bigint NOT NULL,
    last_subscribe_ms bigint NOT NULL,
    PRIMARY KEY (app, user_id, device_id)
);

-- Ack counters (the fields of `AckCountRecord`) of a message id (`kind` 'm') or a task id ('t').
CREATE TABLE ack_counts (
    app text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('m', 't')),
    id text COLLATE "C" NOT NULL,
    delivered bigint NOT NULL,
    clicked bigint NOT NULL,
    PRIMARY KEY (app, kind, id)
);
