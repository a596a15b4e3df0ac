-- Core records: apps, server-wide values, notifiers, stored messages, templates, callback rules and users'
-- push settings. Each record is the prost message sled stores (`record`), beside the columns queries use;
-- every key starts with the app. Text keys compare byte-wise (COLLATE "C"), as sled's keys do, so pages come
-- in the same order on both backends.

CREATE TABLE apps (
    app text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);

CREATE TABLE meta (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE notifiers (
    app text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    vendor integer NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, name)
);

CREATE TABLE messages (
    app text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, id)
);

CREATE TABLE templates (
    app text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, name)
);

CREATE TABLE callback_rules (
    app text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, name)
);

-- `template` repeats the record's chosen template name (empty when none), so that the send path's profile
-- joins the template in the same statement that reads the settings.
CREATE TABLE user_settings (
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    template text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, user_id)
);

-- `kind` is the conversation's kind (1: one-to-one chat, 2: group; see `postgres/settings.rs`),
-- `conversation` the peer user or group id.
CREATE TABLE conversation_settings (
    app text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    kind integer NOT NULL,
    conversation text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, user_id, kind, conversation)
);
