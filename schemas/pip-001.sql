-- pipd storage, version 1: the substrate, reservations, what they consume
-- and the VLAN tags they hold. Applied by pipd (pip_store_migrate) inside a
-- named lock; every statement may be re-run safely, because MariaDB commits
-- DDL implicitly and a crash can leave a script half applied.
--
-- Identifiers are compared byte for byte (utf8mb4_bin): RDL ids are case
-- sensitive, so "H1" and "h1" are different elements. Times are Unix
-- seconds (BIGINT) from pipd's clock; FROM_UNIXTIME() shows them.

CREATE TABLE IF NOT EXISTS schema_version (
    version INT NOT NULL PRIMARY KEY,
    applied_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The one substrate this daemon offers. The YAML text is the authority (it
-- keeps features and interfaces); the element tables below are a structured
-- copy that capacity accounting and row locking work on. Reservations lock
-- this row in share mode, and loading a new substrate or allocating VLAN
-- tags locks it exclusively.
CREATE TABLE IF NOT EXISTS underlay (
    id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    yaml LONGTEXT NOT NULL,
    vlan_first INT NULL,
    vlan_last INT NULL,
    loaded_at BIGINT NOT NULL,
    CONSTRAINT underlay_single CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ul_element (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    type TEXT NOT NULL,
    kind ENUM('node', 'link') NOT NULL,
    vlan_first INT NULL,
    vlan_last INT NULL,
    seq INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ul_resource (
    element_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    capacity DECIMAL(30, 9) NOT NULL,
    PRIMARY KEY (element_id, name),
    CONSTRAINT ul_resource_element FOREIGN KEY (element_id) REFERENCES ul_element (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per CloudNet (the id is the caller's). request_hash is SHA-256 of
-- the request as the peer sent it, so a repeated negotiate is recognised.
-- expires_at is the lease of an allocated reservation; NULL once confirmed.
CREATE TABLE IF NOT EXISTS reservation (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    state ENUM('allocated', 'provisioned', 'released', 'failed') NOT NULL,
    request_hash CHAR(64) NOT NULL,
    expires_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    overlay_yaml LONGTEXT NOT NULL,
    mapping_yaml LONGTEXT NOT NULL,
    KEY reservation_state_expiry (state, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- What each live reservation consumes on each underlay element. Rows are
-- deleted when the reservation is released or fails; the RESTRICT foreign
-- key keeps an element from disappearing under a live reservation.
CREATE TABLE IF NOT EXISTS allocation (
    reservation_id VARCHAR(255) NOT NULL,
    element_id VARCHAR(255) NOT NULL,
    resource VARCHAR(255) NOT NULL,
    amount DECIMAL(30, 9) NOT NULL,
    PRIMARY KEY (reservation_id, element_id, resource),
    KEY allocation_element (element_id, resource),
    CONSTRAINT allocation_reservation FOREIGN KEY (reservation_id) REFERENCES reservation (id)
        ON DELETE CASCADE,
    CONSTRAINT allocation_element FOREIGN KEY (element_id) REFERENCES ul_element (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- VLAN tags held. scope is the underlay element the tag is configured on (a
-- link, or the host of a virtual link whose ends share it), or '' for a tag
-- held on the whole substrate. The unique key is the last line of defence
-- against giving one tag twice on one scope.
CREATE TABLE IF NOT EXISTS vlan (
    scope VARCHAR(255) NOT NULL,
    tag SMALLINT UNSIGNED NOT NULL,
    reservation_id VARCHAR(255) NOT NULL,
    overlay_link VARCHAR(255) NOT NULL,
    UNIQUE KEY vlan_scope_tag (scope, tag),
    KEY vlan_reservation (reservation_id),
    CONSTRAINT vlan_reservation FOREIGN KEY (reservation_id) REFERENCES reservation (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every state change, written in the same transaction as the change, so an
-- operator (or pipd after a crash) can tell what happened and in which order.
CREATE TABLE IF NOT EXISTS event (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at BIGINT NOT NULL,
    reservation_id VARCHAR(255) NULL,
    kind VARCHAR(32) NOT NULL,
    detail TEXT NOT NULL,
    KEY event_reservation (reservation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
