-- Object sizes the platform has observed, per project and area ('files':
-- object storage; 'site': static site files), for the plan's storage quota.
-- Rows are written when an upload is confirmed or a site file is stored,
-- removed on delete, and reconciled with the store's own listing.
CREATE TABLE mosaic.storage_objects (
    project_id uuid NOT NULL REFERENCES mosaic.projects(id) ON DELETE CASCADE,
    area       text NOT NULL CHECK (area IN ('files', 'site')),
    key        text NOT NULL,
    size       bigint NOT NULL CHECK (size >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, area, key)
);
