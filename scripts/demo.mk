# The demo federation on loopback (scripts/demo.sh): MariaDB, three pipd and
# one vnpd on namespace substrates, a CloudNet submitted across them.
# `make demo-stop` tears it all down.
demo: all
	@BUILD=$(BUILD) sh scripts/demo.sh start

demo-stop:
	@BUILD=$(BUILD) sh scripts/demo.sh stop

.PHONY: demo demo-stop
