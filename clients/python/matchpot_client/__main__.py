from matchpot_client.cli import main

raise SystemExit(main())
