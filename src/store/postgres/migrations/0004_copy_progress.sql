-- The progress of `pushgate store copy` into this database: one row per record kind, written in the same
-- transaction as each batch of the kind's records, so that a copy interrupted at any point resumes after the
-- last batch that committed. `source` names the store copied from (a sled data directory), `after_key` is
-- the source's key of the last record copied (NULL before the first batch), `copied` how many records of the
-- kind have been written. Not an app's record: no `app` column, so deleting an app leaves it alone.
CREATE TABLE pushgate_copy_progress (
    kind text PRIMARY KEY,
    source text NOT NULL,
    after_key bytea,
    copied bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
