-- pipd storage, version 3.
--
-- generation: grows by one each time another substrate is loaded, so pipd
-- can keep the substrate it parsed once and know when it was replaced
-- (loaded_at has one-second resolution: two loads in a second would look
-- alike).
--
-- vlan_tag: picking free tags reads every tag held (SELECT DISTINCT tag);
-- with this index that is a scan of the index alone.
ALTER TABLE underlay ADD COLUMN IF NOT EXISTS generation BIGINT UNSIGNED NOT NULL DEFAULT 0;
UPDATE underlay SET generation = 1 WHERE generation = 0;
ALTER TABLE vlan ADD KEY IF NOT EXISTS vlan_tag (tag);
