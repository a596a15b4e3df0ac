-- Rate limits shared by the replicas (store/rates.rs): one row per limited key (`sync/<app>` for SendSync),
-- holding its GCRA state: `tat_us`, when the key is quiet again, on the database's clock. `at_us`, `granted`
-- and `wait_us` are the last take's, so that one upsert can compute and return them.
CREATE TABLE rate_limits (
    key text COLLATE "C" PRIMARY KEY,
    tat_us bigint NOT NULL,
    at_us bigint NOT NULL,
    granted bigint NOT NULL,
    wait_us bigint NOT NULL
);
