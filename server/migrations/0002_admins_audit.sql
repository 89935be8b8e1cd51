-- Admin accounts (argon2 passwords, one role each) and the audit log every
-- admin action writes in the same transaction as the action.

CREATE TABLE admins (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{3,40}$'),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'finance', 'superadmin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled      boolean NOT NULL DEFAULT false
);

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    admin_id uuid REFERENCES admins (id),  -- NULL: the system (CLI, provider callback)
    action   text NOT NULL,
    target   text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'::jsonb,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE INDEX audit_log_admin ON audit_log (admin_id, id);
