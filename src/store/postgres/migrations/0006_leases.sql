-- Fenced leases (store/leases.rs): one row per lease name, with its holder, its grant's epoch and when it
-- runs out. Not an app's record (some leases are the deployment's, as a sweeper's): keyed by name, which
-- carries the app for the leases that have one.
CREATE TABLE leases (
    name text COLLATE "C" PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    until_ms bigint NOT NULL
);
