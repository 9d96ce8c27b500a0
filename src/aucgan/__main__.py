from aucgan.cli import main

raise SystemExit(main())
