-- pipd storage, version 2.
--
-- peer: every call is authenticated per peer (DESIGN section 4), and one
-- peer must not confirm, renew or release another peer's CloudNet, so a
-- reservation records who made it ('' for reservations made before this
-- version, or by local tools). The index serves "list my CloudNets".
--
-- reason: why a reservation failed or was released (the embedding error, or
-- "lease expired" from the reaper), for status() and for operators.
ALTER TABLE reservation ADD COLUMN IF NOT EXISTS peer VARCHAR(255) NOT NULL DEFAULT '' AFTER state;
ALTER TABLE reservation ADD COLUMN IF NOT EXISTS reason TEXT NULL AFTER mapping_yaml;
ALTER TABLE reservation ADD KEY IF NOT EXISTS reservation_peer (peer, state);
