-- vnpd storage, version 1: the CloudNets a VNP brokers, the piece of each
-- that every PIP holds, and the operations in flight (crash recovery reads
-- them). Applied by vnpd at start; every statement may be re-run safely,
-- because MariaDB commits DDL implicitly and a crash can leave a script
-- half applied. Times are Unix seconds from vnpd's clock.

CREATE TABLE IF NOT EXISTS schema_version (
    version INT NOT NULL PRIMARY KEY,
    applied_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per CloudNet (the id is the caller's). fault is the error
-- category a failed negotiation answered, so a repeat answers it again.
CREATE TABLE IF NOT EXISTS request (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    peer VARCHAR(255) NOT NULL,
    state ENUM('negotiating', 'allocated', 'provisioned', 'released', 'failed') NOT NULL,
    request_yaml LONGTEXT NOT NULL,
    manifest_yaml LONGTEXT NULL,
    reason TEXT NULL,
    fault INT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    KEY request_peer (peer),
    KEY request_state_expiry (state, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The partial graph sent to one PIP and what the PIP answered. A part in
-- release-pending is released again until the PIP acknowledges it or
-- retry_until passes (the lease asked of the PIP has ended by then).
CREATE TABLE IF NOT EXISTS part (
    request_id VARCHAR(64) NOT NULL,
    pip VARCHAR(255) NOT NULL,
    partial_yaml LONGTEXT NOT NULL,
    elements TEXT NOT NULL,
    state ENUM('negotiating', 'allocated', 'provisioned', 'release-pending', 'released')
        NOT NULL,
    manifest_yaml LONGTEXT NULL,
    retry_until BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, pip),
    CONSTRAINT part_request FOREIGN KEY (request_id) REFERENCES request (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- An operation on a request that talks to PIPs: written before the first
-- call, removed after the last. A row left at start is a crash in between.
CREATE TABLE IF NOT EXISTS operation (
    request_id VARCHAR(64) NOT NULL PRIMARY KEY,
    op ENUM('negotiate', 'confirm', 'release') NOT NULL,
    started_at BIGINT NOT NULL,
    CONSTRAINT operation_request FOREIGN KEY (request_id) REFERENCES request (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
