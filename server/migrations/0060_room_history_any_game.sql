-- Room history for every game kind, not only the quiz: a game names its own
-- result, may seat more than two players, may end in a draw (the pot shared),
-- and keeps a small game-specific detail (the quiz: its question ids).

DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname, conrelid::regclass AS tbl FROM pg_constraint
             WHERE conrelid IN ('duels'::regclass, 'duel_seats'::regclass) AND contype = 'c'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END $$;

ALTER TABLE duels ADD COLUMN IF NOT EXISTS detail jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE duels
    ADD CONSTRAINT duels_players_check CHECK (cardinality(players) BETWEEN 1 AND 64),
    ADD CONSTRAINT duels_result_check CHECK (result ~ '^[a-z][a-z0-9_]{0,31}$'),
    ADD CONSTRAINT duels_amounts_check CHECK (
        stake_minor >= 0 AND pot_minor >= 0 AND payout_minor >= 0 AND rake_minor >= 0
        AND payout_minor + rake_minor <= pot_minor);
ALTER TABLE duel_seats
    ADD CONSTRAINT duel_seats_outcome_check CHECK (outcome IN ('won', 'lost', 'draw', 'refunded')),
    ADD CONSTRAINT duel_seats_payout_check CHECK (payout_minor >= 0);
