-- Deletes leave a tombstone instead of removing the row, so that a store
-- listing that began before the delete (a background reconciliation that
-- is still reading) cannot bring the record back: a reconciliation only
-- changes rows older than the moment its listing began. Tombstones are
-- purged by later reconciliations once no listing can be that old.
ALTER TABLE mosaic.storage_objects ADD COLUMN deleted boolean NOT NULL DEFAULT false;
