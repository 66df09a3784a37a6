from livepapers.cli import main

raise SystemExit(main())
