-- The replicas of one deployment (store/replicas.rs): one row per replica, replaced at each beat. Not an
-- app's record: the deployment's own, as `pushgate_schema` is. `record` is the ReplicaRecord as stored;
-- `beat_ms` beside it for the queries that find the live ones and the stale ones.
CREATE TABLE replicas (
    id text COLLATE "C" PRIMARY KEY,
    beat_ms bigint NOT NULL,
    record bytea NOT NULL
);
CREATE INDEX replicas_by_beat ON replicas (beat_ms);
