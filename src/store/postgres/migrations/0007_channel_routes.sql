-- Where each own-channel device's stream is open (store/routes.rs): one row per device, naming the replica
-- that holds it (`holder`, as `id@started_ms`) and the stream's number there. `record` is the ChannelRoute as
-- stored; the columns beside it are what the conditional delete and the sweep of gone replicas match on.
CREATE TABLE channel_routes (
    app text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    holder text COLLATE "C" NOT NULL,
    stream bigint NOT NULL,
    opened_ms bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (app, device_id)
);
