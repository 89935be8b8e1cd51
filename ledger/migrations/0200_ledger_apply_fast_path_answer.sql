-- ledger_apply, third version (0002 and 0003 stay as applied). Its interface and behaviour
-- are those of 0003, with two changes that save work on every call:
-- * The accounts' ids are read once, first; when every account of the call's single and
--   pending transfers exists, the rows are locked straight from those ids (the same rows,
--   in the same ascending order) and ledger_lock() is not needed. Otherwise ledger_lock()
--   creates the first-use accounts and locks, as before, and the ids are read again.
-- * When the set-based fast path wrote every item of the
-- call (all new single/pending transfers), the rows returned are built from the call's own
-- arrays instead of being read back from `transfers` through two joins of `accounts`.
-- They carry the same values: the ids, owners, amounts, currency, kind, code and time are
-- the ones just written; meta is the caller's JSON text (the caller parses it, so the
-- stored jsonb's different spacing does not matter); no pending_id or ext_ref on this path.

CREATE OR REPLACE FUNCTION ledger_apply(
    p_ids uuid[], p_groups integer[], p_debits text[], p_credits text[], p_amounts bigint[],
    p_currencies text[], p_kinds text[], p_pending_ids uuid[], p_timeouts integer[],
    p_ext_refs text[], p_codes text[], p_metas text[], p_now timestamptz,
    p_allow_expired boolean
) RETURNS TABLE (
    idx integer, status text, err text, t_id uuid, t_debit text, t_credit text,
    t_amount bigint, t_currency text, t_kind text, t_pending_id uuid, t_expires_at timestamptz,
    t_ext_ref text, t_code text, t_meta text, t_created_at timestamptz, t_resolved boolean
)
LANGUAGE plpgsql AS $fn$
DECLARE
    n integer := coalesce(array_length(p_ids, 1), 0);
    v_now timestamptz;  -- set once the locks are held (step 2)
    v_diff text;
    st text[] := array_fill(NULL::text, ARRAY[n]);
    er text[] := array_fill(NULL::text, ARRAY[n]);
    grp_start integer := 1;
    grp_done uuid[] := '{}';
    grp_err text := NULL;
    grp_err_at integer := 0;
    i integer;
    j integer;
    v_kind text;
    v_amt bigint;
    v_d bigint;
    v_c bigint;
    v_ok boolean;
    r record;
    h record;
    v_seen uuid[];
    v_id uuid;
    v_deb text;
    v_cred text;
    v_cur text;
    v_pid uuid;
    v_to integer;
    v_ext text;
    v_code text;
    v_meta text;
    v_req bigint;
    v_did bigint;
    v_cid bigint;
    v_fast boolean;
    v_inserted uuid[];
    v_dids bigint[];
    v_cids bigint[];
BEGIN
    -- 1. The accounts' ids (ids never change, so reading them before the locks is safe).
    SELECT array_agg(da.id ORDER BY u.ord), array_agg(ca.id ORDER BY u.ord)
      INTO v_dids, v_cids
      FROM unnest(p_debits, p_credits, p_currencies) WITH ORDINALITY AS u(d, c, cur, ord)
      LEFT JOIN accounts da ON da.owner = u.d AND da.currency = u.cur
      LEFT JOIN accounts ca ON ca.owner = u.c AND ca.currency = u.cur;

    -- 2. Lock every account of the call in ascending id order. When a single or pending
    -- transfer names an account that does not exist yet, ledger_lock() creates the
    -- first-use ones and locks; the ids are then read again. Otherwise the same set of
    -- rows is locked directly from the ids (no second look-up by owner).
    IF EXISTS (SELECT 1 FROM unnest(v_dids, v_cids, p_kinds) AS u(d, c, k)
                WHERE u.k IN ('single', 'pending') AND (u.d IS NULL OR u.c IS NULL)) THEN
        PERFORM ledger_lock(p_debits, p_credits, p_currencies, p_kinds, p_pending_ids);
        SELECT array_agg(da.id ORDER BY u.ord), array_agg(ca.id ORDER BY u.ord)
          INTO v_dids, v_cids
          FROM unnest(p_debits, p_credits, p_currencies) WITH ORDINALITY AS u(d, c, cur, ord)
          LEFT JOIN accounts da ON da.owner = u.d AND da.currency = u.cur
          LEFT JOIN accounts ca ON ca.owner = u.c AND ca.currency = u.cur;
    ELSE
        PERFORM 1 FROM accounts
         WHERE id IN (
            SELECT unnest(v_dids)
            UNION
            SELECT unnest(v_cids)
            UNION
            SELECT t.debit_account_id FROM transfers t WHERE t.id = ANY (p_pending_ids)
            UNION
            SELECT t.credit_account_id FROM transfers t WHERE t.id = ANY (p_pending_ids))
         ORDER BY id
           FOR UPDATE;
    END IF;

    -- Time is read only now that the locks are held: a call that queued behind another one
    -- must judge a hold's expiry (and stamp created_at) at the moment it may act, not when
    -- it started waiting. p_now (tests inject a clock) wins.
    v_now := coalesce(p_now, clock_timestamp());

    -- Bulk look-up of replays, so the per-item loop below is mostly the writes themselves.
    SELECT coalesce(array_agg(t.id), '{}') INTO v_seen FROM transfers t WHERE t.id = ANY (p_ids);

    -- 3a. Fast path, set-based: only new single/pending transfers between known accounts whose
    -- debits fit even before any credit of this call arrives (then every item fits in order,
    -- so the outcome is the one the item-by-item path would give).
    v_fast := n > 0
        AND cardinality(v_seen) = 0
        AND array_position(v_dids, NULL) IS NULL
        AND array_position(v_cids, NULL) IS NULL
        AND NOT EXISTS (SELECT 1 FROM unnest(p_kinds, p_ext_refs) AS u(k, x)
                         WHERE u.k NOT IN ('single', 'pending') OR u.x IS NOT NULL)
        AND NOT EXISTS (
            SELECT 1
              FROM (SELECT u.d, sum(u.amt) AS s FROM unnest(v_dids, p_amounts) AS u(d, amt)
                     GROUP BY u.d) x
              JOIN accounts a ON a.id = x.d
             WHERE a.floor_minor IS NOT NULL
               AND a.credits_posted - a.debits_posted - a.debits_pending - x.s < a.floor_minor);
    IF v_fast THEN
        WITH ins AS (
            INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor, currency,
                                   kind, expires_at, code, meta, created_at)
            SELECT u.id, u.d, u.c, u.amt, u.cur, u.kind,
                   CASE WHEN u.kind = 'pending' THEN v_now + make_interval(secs => u.tmo) END,
                   u.code, u.meta::jsonb, v_now
              FROM unnest(p_ids, v_dids, v_cids, p_amounts, p_currencies, p_kinds, p_timeouts,
                          p_codes, p_metas) AS u(id, d, c, amt, cur, kind, tmo, code, meta)
            ON CONFLICT DO NOTHING
            RETURNING id)
        SELECT coalesce(array_agg(ins.id), '{}') INTO v_inserted FROM ins;
        IF cardinality(v_inserted) <> n THEN
            -- An id was committed concurrently: take back ours and go item by item.
            DELETE FROM transfers WHERE id = ANY (v_inserted);
            v_fast := false;
        ELSE
            UPDATE accounts a
               SET debits_posted = a.debits_posted + x.dpost,
                   credits_posted = a.credits_posted + x.cpost,
                   debits_pending = a.debits_pending + x.dpend,
                   credits_pending = a.credits_pending + x.cpend
              FROM (SELECT y.acct, sum(y.dpost) AS dpost, sum(y.cpost) AS cpost,
                           sum(y.dpend) AS dpend, sum(y.cpend) AS cpend
                      FROM (SELECT u.d AS acct,
                                   CASE WHEN u.kind = 'single' THEN u.amt ELSE 0 END AS dpost,
                                   0::bigint AS cpost,
                                   CASE WHEN u.kind = 'pending' THEN u.amt ELSE 0 END AS dpend,
                                   0::bigint AS cpend
                              FROM unnest(v_dids, p_amounts, p_kinds) AS u(d, amt, kind)
                            UNION ALL
                            SELECT u.c, 0, CASE WHEN u.kind = 'single' THEN u.amt ELSE 0 END,
                                   0, CASE WHEN u.kind = 'pending' THEN u.amt ELSE 0 END
                              FROM unnest(v_cids, p_amounts, p_kinds) AS u(c, amt, kind)) y
                     GROUP BY y.acct) x
             WHERE a.id = x.acct;
            -- Every item is new and was written from these arrays: answer from them
            -- instead of reading the rows back through two joins.
            RETURN QUERY
            SELECT k.i, 'new'::text, NULL::text, p_ids[k.i], p_debits[k.i], p_credits[k.i],
                   p_amounts[k.i], p_currencies[k.i], p_kinds[k.i], NULL::uuid,
                   CASE WHEN p_kinds[k.i] = 'pending'
                        THEN v_now + make_interval(secs => p_timeouts[k.i]) END,
                   NULL::text, p_codes[k.i], p_metas[k.i], v_now, false
              FROM generate_series(1, n) AS k(i)
             ORDER BY k.i;
            RETURN;
        END IF;
    END IF;

    -- 3b. Otherwise item by item; a failure undoes its whole group.
    IF NOT v_fast THEN
            FOR i IN 1 .. n LOOP
            IF i > 1 AND p_groups[i] <> p_groups[i - 1] THEN
                grp_start := i;
                grp_done := '{}';
                grp_err := NULL;
            END IF;
            CONTINUE WHEN grp_err IS NOT NULL;

            -- Scalars first: SQL statements below then never pass the whole arrays around.
            v_kind := p_kinds[i];
            v_id := p_ids[i];
            v_deb := p_debits[i];
            v_cred := p_credits[i];
            v_cur := p_currencies[i];
            v_pid := p_pending_ids[i];
            v_to := p_timeouts[i];
            v_ext := p_ext_refs[i];
            v_code := p_codes[i];
            v_meta := p_metas[i];
            v_req := p_amounts[i];
            v_did := v_dids[i];
            v_cid := v_cids[i];
            <<item>>
            BEGIN
                -- Replay: the same id with the same content returns the first result.
                IF v_id = ANY (v_seen) THEN
                SELECT t.*, da.owner AS debit_owner, ca.owner AS credit_owner,
                       (SELECT p.amount_minor FROM transfers p WHERE p.id = t.pending_id) AS hold_amount
                  INTO r
                  FROM transfers t
                  JOIN accounts da ON da.id = t.debit_account_id
                  JOIN accounts ca ON ca.id = t.credit_account_id
                 WHERE t.id = v_id;
                IF FOUND THEN
                    -- Every field of the request must match the stored transfer (like
                    -- TigerBeetle's exists_with_different_*): the first difference is named.
                    v_diff := CASE
                        WHEN r.kind <> v_kind THEN 'kind'
                        WHEN r.pending_id IS DISTINCT FROM v_pid THEN 'pending_id'
                        WHEN NOT (v_deb = r.debit_owner OR (v_deb = '' AND r.pending_id IS NOT NULL))
                            THEN 'debit'
                        WHEN NOT (v_cred = r.credit_owner OR (v_cred = '' AND r.pending_id IS NOT NULL))
                            THEN 'credit'
                        WHEN NOT (v_cur = r.currency OR (v_cur = '' AND r.pending_id IS NOT NULL))
                            THEN 'currency'
                        WHEN NOT (v_req = r.amount_minor
                                  OR (v_req = 0 AND r.kind = 'void')
                                  OR (v_req = 0 AND r.kind = 'post' AND r.amount_minor = r.hold_amount))
                            THEN 'amount_minor'
                        WHEN r.ext_ref IS DISTINCT FROM v_ext THEN 'ext_ref'
                        WHEN r.code <> v_code THEN 'code'
                        WHEN r.meta <> v_meta::jsonb THEN 'meta'
                        WHEN r.kind = 'pending'
                             AND r.expires_at IS DISTINCT FROM r.created_at + make_interval(secs => v_to)
                            THEN 'timeout_s'
                    END;
                    IF v_diff IS NULL THEN
                        st[i] := 'replay';
                    ELSE
                        grp_err := 'idempotency_conflict|transfer ' || v_id
                                   || ' already exists with a different ' || v_diff;
                    END IF;
                    EXIT item;
                END IF;
                END IF;

                IF v_kind IN ('single', 'pending') THEN
                    v_d := v_did;
                    v_c := v_cid;
                    IF v_d IS NULL THEN
                        grp_err := 'account_not_found|no account ' || v_deb || ' in ' || v_cur;
                        EXIT item;
                    END IF;
                    IF v_c IS NULL THEN
                        grp_err := 'account_not_found|no account ' || v_cred || ' in ' || v_cur;
                        EXIT item;
                    END IF;
                    v_amt := v_req;
                    INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor, currency,
                                           kind, expires_at, ext_ref, code, meta, created_at)
                    VALUES (v_id, v_d, v_c, v_amt, v_cur, v_kind,
                            CASE WHEN v_kind = 'pending'
                                 THEN v_now + make_interval(secs => v_to) END,
                            v_ext, v_code, v_meta::jsonb, v_now)
                    ON CONFLICT DO NOTHING;
                    IF NOT FOUND THEN
                        IF EXISTS (SELECT 1 FROM transfers WHERE id = v_id) THEN
                            grp_err := 'retry|concurrent insert of the same id';
                        ELSE
                            grp_err := 'duplicate_ext_ref|external reference ' || v_ext
                                       || ' is already used by another transfer';
                        END IF;
                        EXIT item;
                    END IF;
                    IF v_kind = 'single' THEN
                        UPDATE accounts SET debits_posted = debits_posted + v_amt
                         WHERE id = v_d
                           AND (floor_minor IS NULL
                                OR credits_posted - debits_posted - debits_pending - v_amt >= floor_minor);
                        v_ok := FOUND;
                        IF v_ok THEN
                            UPDATE accounts SET credits_posted = credits_posted + v_amt WHERE id = v_c;
                        END IF;
                    ELSE
                        UPDATE accounts SET debits_pending = debits_pending + v_amt
                         WHERE id = v_d
                           AND (floor_minor IS NULL
                                OR credits_posted - debits_posted - debits_pending - v_amt >= floor_minor);
                        v_ok := FOUND;
                        IF v_ok THEN
                            UPDATE accounts SET credits_pending = credits_pending + v_amt WHERE id = v_c;
                        END IF;
                    END IF;
                    IF NOT v_ok THEN
                        DELETE FROM transfers WHERE id = v_id;
                        grp_err := 'insufficient_funds|' || v_deb || ' cannot spend '
                                   || v_amt || ' ' || v_cur;
                        EXIT item;
                    END IF;
                ELSE
                    -- post / void: resolve a hold, at most once, before it expires.
                    SELECT t.*, da.owner AS debit_owner, ca.owner AS credit_owner
                      INTO h
                      FROM transfers t
                      JOIN accounts da ON da.id = t.debit_account_id
                      JOIN accounts ca ON ca.id = t.credit_account_id
                     WHERE t.id = v_pid;
                    IF NOT FOUND OR h.kind <> 'pending' THEN
                        grp_err := 'hold_not_found|no hold ' || coalesce(v_pid::text, '?');
                        EXIT item;
                    END IF;
                    IF v_cur <> '' AND v_cur <> h.currency THEN
                        grp_err := 'currency_mismatch|hold ' || h.id || ' is in ' || h.currency;
                        EXIT item;
                    END IF;
                    IF (v_deb <> '' AND v_deb <> h.debit_owner)
                       OR (v_cred <> '' AND v_cred <> h.credit_owner) THEN
                        grp_err := 'invalid_transfer|accounts differ from those of hold ' || h.id;
                        EXIT item;
                    END IF;
                    IF h.resolved_at IS NOT NULL THEN
                        grp_err := 'hold_already_resolved|hold ' || h.id || ' is already posted or voided';
                        EXIT item;
                    END IF;
                    IF h.expires_at <= v_now AND NOT p_allow_expired THEN
                        grp_err := 'hold_expired|hold ' || h.id || ' expired at ' || h.expires_at;
                        EXIT item;
                    END IF;
                    IF v_kind = 'post' THEN
                        v_amt := CASE WHEN v_req = 0 THEN h.amount_minor ELSE v_req END;
                        IF v_amt > h.amount_minor THEN
                            grp_err := 'invalid_transfer|cannot post ' || v_amt || ' of a hold of '
                                       || h.amount_minor;
                            EXIT item;
                        END IF;
                    ELSE
                        IF v_req <> 0 AND v_req <> h.amount_minor THEN
                            grp_err := 'invalid_transfer|a void releases the whole hold of '
                                       || h.amount_minor;
                            EXIT item;
                        END IF;
                        v_amt := h.amount_minor;
                    END IF;
                    INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor, currency,
                                           kind, pending_id, ext_ref, code, meta, created_at)
                    VALUES (v_id, h.debit_account_id, h.credit_account_id, v_amt, h.currency, v_kind,
                            h.id, v_ext, v_code, v_meta::jsonb, v_now)
                    ON CONFLICT DO NOTHING;
                    IF NOT FOUND THEN
                        IF EXISTS (SELECT 1 FROM transfers WHERE id = v_id) THEN
                            grp_err := 'retry|concurrent insert of the same id';
                        ELSIF EXISTS (SELECT 1 FROM transfers WHERE pending_id = h.id) THEN
                            grp_err := 'hold_already_resolved|hold ' || h.id
                                       || ' is already posted or voided';
                        ELSE
                            grp_err := 'duplicate_ext_ref|external reference ' || v_ext
                                       || ' is already used by another transfer';
                        END IF;
                        EXIT item;
                    END IF;
                    UPDATE accounts
                       SET debits_pending = debits_pending - h.amount_minor,
                           debits_posted = debits_posted + CASE WHEN v_kind = 'post' THEN v_amt ELSE 0 END
                     WHERE id = h.debit_account_id;
                    UPDATE accounts
                       SET credits_pending = credits_pending - h.amount_minor,
                           credits_posted = credits_posted + CASE WHEN v_kind = 'post' THEN v_amt ELSE 0 END
                     WHERE id = h.credit_account_id;
                    UPDATE transfers SET resolved_at = v_now WHERE id = h.id;
                END IF;
                st[i] := 'new';
                grp_done := grp_done || v_id;
            END item;

            IF grp_err IS NOT NULL THEN
                PERFORM ledger_undo(grp_done);
                FOR j IN grp_start .. n LOOP
                    EXIT WHEN p_groups[j] <> p_groups[grp_start];
                    st[j] := 'aborted';
                END LOOP;
                st[i] := 'error';
                er[i] := grp_err;
            END IF;
        END LOOP;
    END IF;

    -- 4. One row per item, with the stored transfer when there is one.
    RETURN QUERY
    SELECT k.i, st[k.i], er[k.i], t.id, da.owner, ca.owner, t.amount_minor, t.currency, t.kind,
           t.pending_id, t.expires_at, t.ext_ref, t.code, t.meta::text, t.created_at,
           t.resolved_at IS NOT NULL
      FROM generate_series(1, n) AS k(i)
      LEFT JOIN transfers t ON t.id = p_ids[k.i] AND st[k.i] IN ('new', 'replay')
      LEFT JOIN accounts da ON da.id = t.debit_account_id
      LEFT JOIN accounts ca ON ca.id = t.credit_account_id
     ORDER BY k.i;
END
$fn$;
