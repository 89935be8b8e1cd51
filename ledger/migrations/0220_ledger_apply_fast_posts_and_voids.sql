-- ledger_apply, fifth version (0002, 0003, 0200 and 0210 stay as applied): posts and voids
-- take the set-based fast path too.
--
-- A room's settlement is a batch of posts (its stakes), payouts and the rake, all moving the
-- game's one escrow account; so is a wave of many rooms' settlements. Item by item, a post
-- costs five statements (read the hold, insert, two balance updates, mark the hold
-- resolved), and the escrow row stays locked by the settling transaction for all of them,
-- while every player joining a queue waits on that row for a hold. Set-based, the whole
-- batch is four statements under the locks, whatever its size.
--
-- What changes on the fast path (interface, item-by-item path and answers are 0210's):
-- * it takes calls of single, pending, post and void items without ext_ref. Before any lock
--   it reads the holds that posts and voids name (a transfer's accounts, amount, currency
--   and kind never change): each must exist, be named once in the call and agree with its
--   request as the item-by-item path checks it; otherwise that path runs, and says why;
-- * the floor check follows the running balance: per account, the deepest dip of
--   (credits_posted - debits_posted - debits_pending) through the items in order (a post
--   credits the escrow before the payout that debits it) must fit the room the locked row
--   has. That is exactly when every debit of the item-by-item path fits;
-- * once the accounts are locked (whoever resolves a hold locks its accounts too), every
--   hold must still be unresolved and, unless p_allow_expired, unexpired;
-- * the writes are one INSERT of every item, one UPDATE of the accounts and one UPDATE
--   marking the holds resolved;
-- * the answer is the one 'fast' row when every post/void spells out its accounts, currency
--   and written amount (the caller then builds the transfers from its requests, pending_id
--   included); otherwise one row per item, read back, as before.

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
    v_now timestamptz;  -- set once the locks are held
    v_diff text;
    st text[] := array_fill(NULL::text, ARRAY[n]);
    er text[] := array_fill(NULL::text, ARRAY[n]);
    grp_start integer := 1;
    grp_done uuid[] := '{}';
    grp_err text := NULL;
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
    v_fast boolean := false;
    v_short boolean;
    v_onecur boolean;
    v_dids bigint[];
    v_cids bigint[];
    -- The locked accounts of a fast-path call, one element per account: where the row is,
    -- its id, and what this call adds to each of its four columns.
    v_tids tid[];
    v_aids bigint[];
    v_dpost bigint[];
    v_cpost bigint[];
    v_dpend bigint[];
    v_cpend bigint[];
    v_rows integer;
    -- Post/void items of a fast-path call (the rest are single/pending): their count, and
    -- each item's written account ids, amount and currency (a hold's own for post/void).
    v_nres integer := 0;
    v_amts bigint[];
    v_curs text[];
    v_need bigint[];
    v_named boolean := true;
    v_try boolean;
BEGIN
    v_try := n > 0 AND p_kinds <@ ARRAY['single', 'pending', 'post', 'void']
             AND cardinality(array_remove(p_ext_refs, NULL)) = 0;
    IF v_try AND NOT p_kinds <@ ARRAY['single', 'pending'] THEN
        -- 0f. Posts and voids: what their holds say before any lock (a transfer's accounts,
        -- amount, currency and kind never change; whether it is resolved is read again once
        -- the accounts are locked). Every hold must exist, be named once, and agree with its
        -- request as the item-by-item path checks it; otherwise that path runs and says why.
        -- `v_named`: every post/void spells out the accounts, currency and amount it writes,
        -- so a one-row answer is enough for the caller to build it.
        SELECT count(*),
               coalesce(bool_and(
                   ht.id IS NOT NULL AND ht.kind = 'pending'
                   AND (u.cur = '' OR u.cur = ht.currency)
                   AND (u.deb = '' OR u.deb = da.owner)
                   AND (u.cred = '' OR u.cred = ca.owner)
                   AND CASE WHEN u.kind = 'post' THEN u.amt <= ht.amount_minor
                            ELSE u.amt IN (0, ht.amount_minor) END), false)
                   AND count(DISTINCT u.pid) = count(*),
               coalesce(bool_and(u.deb <> '' AND u.cred <> '' AND u.cur <> ''
                                 AND CASE WHEN u.kind = 'post' THEN u.amt > 0
                                          ELSE u.amt = ht.amount_minor END), false)
          INTO v_nres, v_try, v_named
          FROM unnest(p_kinds, p_pending_ids, p_debits, p_credits, p_currencies, p_amounts)
               AS u(kind, pid, deb, cred, cur, amt)
          LEFT JOIN LATERAL (SELECT t.* FROM transfers t WHERE t.id = u.pid OFFSET 0) ht ON true
          LEFT JOIN accounts da ON da.id = ht.debit_account_id
          LEFT JOIN accounts ca ON ca.id = ht.credit_account_id
         WHERE u.kind IN ('post', 'void');
    END IF;

    IF v_try THEN
        -- 1f. Only single/pending/post/void transfers without ext_ref. Before any lock (ids
        -- never change, so reading them unlocked is safe): each item's account ids (a post's
        -- or void's are its hold's), and per account, ascending by id, what the call adds to
        -- each of its four columns and how far its balance can dip on the way (`need`). The
        -- owners are looked up together (owner = ANY), cheaper than probing one pair at a
        -- time; a call in several currencies keeps the exact pairs. An account that does not
        -- exist yet leaves a NULL id: ledger_lock() then creates the first-use ones (and
        -- locks every account of the call), and the ids are read again.
        v_onecur := p_currencies <@ p_currencies[1:1];
        FOR j IN 1 .. 2 LOOP
            WITH accts AS MATERIALIZED (
                SELECT a.id, a.owner, a.currency
                  FROM accounts a
                 WHERE a.owner = ANY (p_debits || p_credits)
                   AND a.currency = ANY (p_currencies)
                   AND (v_onecur
                        OR (a.owner, a.currency) IN (
                            SELECT * FROM unnest(p_debits || p_credits,
                                                 p_currencies || p_currencies)))),
            holds AS MATERIALIZED (
                -- One primary-key probe per hold (OFFSET 0 keeps the planner from turning
                -- this into a hash join over a scan of all of `transfers`).
                SELECT ht.*
                  FROM unnest(p_pending_ids) AS p(id)
                  JOIN LATERAL (SELECT t.id, t.debit_account_id, t.credit_account_id,
                                       t.currency, t.amount_minor
                                  FROM transfers t WHERE t.id = p.id OFFSET 0) ht ON true
                 WHERE p.id IS NOT NULL),
            items AS MATERIALIZED (
                -- One row per item: the accounts it moves, the amount it writes, and the
                -- amount of the hold it resolves (0 for single/pending).
                SELECT u.k, u.kind,
                       CASE WHEN ht.id IS NULL THEN da.id ELSE ht.debit_account_id END AS d,
                       CASE WHEN ht.id IS NULL THEN ca.id ELSE ht.credit_account_id END AS c,
                       CASE WHEN ht.id IS NULL THEN u.cur ELSE ht.currency END AS cur,
                       CASE WHEN u.kind = 'void' OR (u.kind = 'post' AND u.amt = 0)
                            THEN ht.amount_minor ELSE u.amt END AS amt,
                       coalesce(ht.amount_minor, 0) AS hamt
                  FROM unnest(p_kinds, p_debits, p_credits, p_currencies, p_amounts,
                              p_pending_ids) WITH ORDINALITY AS u(kind, deb, cred, cur, amt, pid, k)
                  LEFT JOIN holds ht ON ht.id = u.pid AND u.kind IN ('post', 'void')
                  LEFT JOIN accts da ON da.owner = u.deb AND da.currency = u.cur
                                    AND u.kind IN ('single', 'pending')
                  LEFT JOIN accts ca ON ca.owner = u.cred AND ca.currency = u.cur
                                    AND u.kind IN ('single', 'pending')),
            legs AS MATERIALIZED (
                -- One row per item and side (debit 0, credit 1): what it adds to each of the
                -- account's four columns, and to its spendable room (credits_posted -
                -- debits_posted - debits_pending). Only single/pending debits lower the room,
                -- and only they are checked against the floor, in item order.
                SELECT it.k, 0 AS side, it.d AS id,
                       CASE WHEN it.kind IN ('single', 'post') THEN it.amt ELSE 0 END AS dpost,
                       0::bigint AS cpost,
                       CASE WHEN it.kind = 'pending' THEN it.amt
                            WHEN it.kind = 'single' THEN 0 ELSE -it.hamt END AS dpend,
                       0::bigint AS cpend,
                       CASE WHEN it.kind IN ('single', 'pending') THEN -it.amt
                            WHEN it.kind = 'post' THEN it.hamt - it.amt ELSE it.hamt END AS room
                  FROM items it
                UNION ALL
                SELECT it.k, 1, it.c, 0,
                       CASE WHEN it.kind IN ('single', 'post') THEN it.amt ELSE 0 END,
                       0,
                       CASE WHEN it.kind = 'pending' THEN it.amt
                            WHEN it.kind = 'single' THEN 0 ELSE -it.hamt END,
                       CASE WHEN it.kind IN ('single', 'post') THEN it.amt ELSE 0 END
                  FROM items it),
            runs AS (
                SELECT l.id, l.dpost, l.cpost, l.dpend, l.cpend,
                       sum(l.room) OVER (PARTITION BY l.id ORDER BY l.k, l.side) AS run
                  FROM legs l WHERE l.id IS NOT NULL)
            SELECT array_agg(g.id ORDER BY g.id), array_agg(g.dpost ORDER BY g.id),
                   array_agg(g.cpost ORDER BY g.id), array_agg(g.dpend ORDER BY g.id),
                   array_agg(g.cpend ORDER BY g.id), array_agg(g.need ORDER BY g.id),
                   (SELECT array_agg(it.d ORDER BY it.k) FROM items it),
                   (SELECT array_agg(it.c ORDER BY it.k) FROM items it),
                   (SELECT array_agg(it.amt ORDER BY it.k) FROM items it),
                   (SELECT array_agg(it.cur ORDER BY it.k) FROM items it)
              INTO v_aids, v_dpost, v_cpost, v_dpend, v_cpend, v_need, v_dids, v_cids, v_amts,
                   v_curs
              FROM (SELECT rn.id, sum(rn.dpost)::bigint AS dpost, sum(rn.cpost)::bigint AS cpost,
                           sum(rn.dpend)::bigint AS dpend, sum(rn.cpend)::bigint AS cpend,
                           greatest(0, -min(rn.run))::bigint AS need
                      FROM runs rn GROUP BY rn.id) g;
            EXIT WHEN j = 2 OR (array_position(v_dids, NULL) IS NULL
                                AND array_position(v_cids, NULL) IS NULL);
            PERFORM ledger_lock(p_debits, p_credits, p_currencies, p_kinds, p_pending_ids);
        END LOOP;

        -- 2f. Lock those accounts in ascending id order (rows are locked in the order the
        -- ORDER BY yields them) and read, from the locked rows, where each row is (the update
        -- below goes straight there) and whether each account's room covers the deepest dip
        -- of its running balance through the call's items: then every debit fits in item
        -- order, so the outcome is the one the item-by-item path would give. Only this
        -- statement and the writes after it run while the locks are held: the look-ups above
        -- do not keep other calls waiting. The ids are joined to `accounts`, not matched with
        -- `a.id = ANY (v_aids)`: a row that another call updated while this one waited for it
        -- is re-checked, which restarts the scan, and an index scan over an array sorts the
        -- whole array again at every restart (at 32 callers that was a fifth of the server's
        -- CPU); the join re-checks one id.
        SELECT array_agg(k.tid ORDER BY k.id), count(*),
               coalesce(bool_or(k.need > 0 AND k.need > k.room), false)
          INTO v_tids, v_rows, v_short
          FROM (SELECT a.ctid AS tid, a.id, x.need,
                       a.credits_posted - a.debits_posted - a.debits_pending - a.floor_minor
                           AS room
                  FROM unnest(v_aids, v_need) AS x(id, need)
                  JOIN accounts a ON a.id = x.id
                 ORDER BY a.id
                   FOR UPDATE OF a) k;
        IF v_rows <> cardinality(v_aids) THEN
            RAISE EXCEPTION 'ledger_apply: % of % accounts found', v_rows, cardinality(v_aids);
        END IF;
        -- Time is read only now that the locks are held, as on the other branch.
        v_now := coalesce(p_now, clock_timestamp());
        v_fast := array_position(v_dids, NULL) IS NULL AND array_position(v_cids, NULL) IS NULL
                  AND NOT v_short;
        IF v_fast AND v_nres > 0 THEN
            -- Every hold still unresolved and, unless expired ones may be resolved, unexpired:
            -- read now that its accounts are locked (whoever resolves a hold locks them too).
            SELECT count(*) INTO v_rows
              FROM unnest(p_kinds, p_pending_ids) AS u(kind, pid)
              JOIN LATERAL (SELECT t.resolved_at, t.expires_at FROM transfers t
                             WHERE t.id = u.pid OFFSET 0) t ON true
             WHERE u.kind IN ('post', 'void')
               AND t.resolved_at IS NULL
               AND (p_allow_expired OR NOT coalesce(t.expires_at <= v_now, false));
            v_fast := v_rows = v_nres;
        END IF;
    ELSE
        -- 1. The accounts' ids (ids never change, so reading them before the locks is safe).
        SELECT array_agg(da.id ORDER BY u.ord), array_agg(ca.id ORDER BY u.ord)
          INTO v_dids, v_cids
          FROM unnest(p_debits, p_credits, p_currencies) WITH ORDINALITY AS u(d, c, cur, ord)
          LEFT JOIN accounts da ON da.owner = u.d AND da.currency = u.cur
          LEFT JOIN accounts ca ON ca.owner = u.c AND ca.currency = u.cur;

        -- 2. Lock every account of the call in ascending id order, the holds' accounts
        -- included. When a single or pending transfer names an account that does not exist
        -- yet, ledger_lock() creates the first-use ones and locks; the ids are then read again.
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

        -- Time is read only now that the locks are held: a call that queued behind another
        -- one must judge a hold's expiry (and stamp created_at) at the moment it may act, not
        -- when it started waiting. p_now (tests inject a clock) wins.
        v_now := coalesce(p_now, clock_timestamp());
    END IF;

    -- 3f. The fast path's writes. A plain INSERT is much cheaper than ON CONFLICT's speculative
    -- insertion; an id that exists already (a replay, or one committed concurrently) raises
    -- unique_violation (as would a second resolution of a hold, which the locks and the
    -- check above rule out; no ext_ref here), which undoes this block's rows, and the call
    -- goes item by item.
    IF v_fast THEN
        BEGIN
            INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor, currency,
                                   kind, pending_id, expires_at, code, meta, created_at)
            SELECT u.id, u.d, u.c, u.amt, u.cur, u.kind,
                   CASE WHEN u.kind IN ('post', 'void') THEN u.pid END,
                   CASE WHEN u.kind = 'pending' THEN v_now + make_interval(secs => u.tmo) END,
                   u.code, u.meta::jsonb, v_now
              FROM unnest(p_ids, v_dids, v_cids, v_amts, v_curs, p_kinds, p_pending_ids,
                          p_timeouts, p_codes, p_metas)
                   AS u(id, d, c, amt, cur, kind, pid, tmo, code, meta);
        EXCEPTION WHEN unique_violation THEN
            v_fast := false;
        END;
    END IF;
    IF v_fast THEN
        -- The rows are locked by this transaction since step 2f, so each is still where
        -- that statement found it (a row count that differs would be a bug: it raises).
        UPDATE accounts a
           SET debits_posted = a.debits_posted + x.dpost,
               credits_posted = a.credits_posted + x.cpost,
               debits_pending = a.debits_pending + x.dpend,
               credits_pending = a.credits_pending + x.cpend
          FROM unnest(v_tids, v_aids, v_dpost, v_cpost, v_dpend, v_cpend)
               AS x(tid, id, dpost, cpost, dpend, cpend)
         WHERE a.ctid = x.tid AND a.id = x.id;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows <> cardinality(v_aids) THEN
            RAISE EXCEPTION 'ledger_apply: % of % account rows updated', v_rows,
                cardinality(v_aids);
        END IF;
        IF v_nres > 0 THEN
            UPDATE transfers SET resolved_at = v_now
             WHERE id = ANY (ARRAY(SELECT u.pid FROM unnest(p_kinds, p_pending_ids) AS u(kind, pid)
                                    WHERE u.kind IN ('post', 'void')));
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            IF v_rows <> v_nres THEN
                RAISE EXCEPTION 'ledger_apply: % of % holds resolved', v_rows, v_nres;
            END IF;
        END IF;
        IF v_named THEN
            -- Every item is new and equals its request: one row says so.
            RETURN QUERY
            SELECT 0, 'fast'::text, NULL::text, NULL::uuid, NULL::text, NULL::text,
                   NULL::bigint, NULL::text, NULL::text, NULL::uuid, NULL::timestamptz,
                   NULL::text, NULL::text, NULL::text, v_now, false;
            RETURN;
        END IF;
        -- A post or void left accounts, currency or amount to its hold: every item is new,
        -- and the answer reads them back (step 4).
        st := array_fill('new'::text, ARRAY[n]);
    END IF;

    -- 3. Otherwise item by item; a failure undoes its whole group. Replays first: which ids
    -- exist already.
    IF NOT v_fast THEN
    SELECT coalesce(array_agg(t.id), '{}') INTO v_seen FROM transfers t WHERE t.id = ANY (p_ids);
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
    END IF;  -- NOT v_fast

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
