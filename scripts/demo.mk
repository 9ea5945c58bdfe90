# `make demo` (in cli/Makefile.mk) starts the demo federation; this tears it down.
demo-stop:
	@BUILD=$(BUILD) sh scripts/demo.sh stop

.PHONY: demo-stop
