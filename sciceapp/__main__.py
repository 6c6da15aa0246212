from sciceapp.cli import main

raise SystemExit(main())
