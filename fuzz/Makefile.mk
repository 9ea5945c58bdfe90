# libFuzzer target for the YAML reader, built with clang in its own tree.
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang

fuzz: $(FUZZ_BUILD)/rdl_fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus
	$(FUZZ_BUILD)/rdl_fuzz -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 $(FUZZ_BUILD)/corpus examples tests/rdl-in tests/rdl-bad

$(FUZZ_BUILD)/rdl_fuzz: fuzz/rdl_fuzz.c $(util_SRCS) $(rdl_SRCS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ fuzz/rdl_fuzz.c $(util_SRCS) $(rdl_SRCS) $(rdl_LDLIBS) -lm

.PHONY: fuzz
