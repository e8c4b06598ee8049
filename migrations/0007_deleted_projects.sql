-- Deleted projects whose storage a late upload may still reach: a presigned
-- URL issued before the delete stays valid until it expires (at most 7
-- days), and no store can revoke it. The platform's sweeper deletes what
-- landed under the project's id once no such URL can be valid, then the row.
CREATE TABLE mosaic.deleted_projects (
    id uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
