-- vnpd storage, version 2: modify.
--
-- A modify is an operation in flight like negotiate: written before the
-- first call to a PIP, removed with the commit of its outcome. Until then
-- the parts keep the version being replaced (recovery puts it back at every
-- PIP), and a PIP that the modify brings in has its part in 'negotiating'.
ALTER TABLE operation MODIFY op ENUM('negotiate', 'confirm', 'release', 'modify') NOT NULL;
