-- pipd storage, version 3.
--
-- digest: SHA-256 of the substrate document, kept by the server itself (a
-- stored generated column), so pipd can keep the substrate it parsed once
-- and see with one small read whether another one was loaded since
-- (loaded_at has one-second resolution: two loads in a second would look
-- alike).
--
-- vlan_tag: picking free tags reads every tag held (SELECT DISTINCT tag);
-- with this index that reads the index alone.
ALTER TABLE underlay ADD COLUMN IF NOT EXISTS digest CHAR(64) AS (SHA2(yaml, 256)) PERSISTENT;
ALTER TABLE vlan ADD KEY IF NOT EXISTS vlan_tag (tag);
