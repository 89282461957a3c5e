"""One module per subcommand: `NAME`, `register(subparsers, common)`, `run(args) -> int`."""
