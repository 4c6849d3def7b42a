# spool: `make run` starts a single-node broker on 127.0.0.1:9092; `make test` runs everything.
CARGO ?= cargo
KCAT_LIB := $(CURDIR)/target/kcat-lib
# Kafka's own jars and tools (Java clients, console tools, Streams, the reference broker):
# make test-deps builds this one from Maven Central; point KAFKA_HOME at a distribution to use it.
export KAFKA_HOME ?= $(CURDIR)/target/kafka

.PHONY: build build-deps run cluster test test-deps compat crash-test soak simulate bench bench-vs-kafka java-examples fuzz fuzz-seeds fuzz-cmin fmt lint clean-data

build: build-deps
	$(CARGO) build --release --workspace --bins --examples

# protoc, which the etcd client's build needs (Debian's protobuf-compiler).
build-deps:
	./scripts/install-build-deps.sh

# Only the broker: the test tools (compat-tests, librdkafka's C sources) build under make test.
run: build-deps
	$(CARGO) build --release --bin spool
	./target/release/spool --config configs/single-node.toml

# A one-node etcd and three brokers (configs/cluster-3, 127.0.0.1:9092-9094); Ctrl-C stops
# them all. etcd comes from make test-deps (Debian's etcd-server).
cluster: build-deps
	$(CARGO) build --release --bin spool
	./scripts/cluster.sh

test-deps:
	./scripts/install-test-deps.sh

# Unit and property tests, then the compatibility tests (rdkafka, kcat) against brokers the
# tests start themselves on ephemeral loopback ports.
test: test-deps build
	KCAT_LIBRARY_PATH=$(KCAT_LIB) $(CARGO) test --release --workspace

# The client compatibility matrix with its table, every listed test of librdkafka's own
# suite (compat-tests/librdkafka-tests.md; make test runs the matrix and the fast tier), and
# the differential tests against Apache Kafka (make test runs them too).
compat: test-deps build
	KCAT_LIBRARY_PATH=$(KCAT_LIB) $(CARGO) test --release -p compat-tests --test matrix -- --nocapture
	SPOOL_LIBRDKAFKA_TIER=full $(CARGO) test --release -p compat-tests --test librdkafka_suite -- --nocapture
	$(CARGO) test --release -p compat-tests --test differential

# The long crash test: 100 kill -9 cycles against the mixed workload (acks=all producers, a
# retained and a compacted topic, transactions, group commits), every acknowledged record and
# every transaction checked after each restart (make test runs a 6-cycle form). CYCLES=n SEED=s.
crash-test: build
	./target/release/spool-crash-test $(or $(CYCLES),100) $(SEED)

# The crash harness for an hour (SOAK_SECONDS), kill -9s up to two minutes apart: records
# acknowledged, lost and duplicated by idempotent producers (both must be 0), transactions
# (each all or nothing), retention and compaction, broker RSS.
soak: build
	./target/release/spool-crash-test --soak $(or $(SOAK_SECONDS),3600) $(SEED)

# Deterministic simulation of the storage engine and of replication (tests/simulation/;
# make test runs storage seeds 1-200 and replication seeds 1-2000): SEEDS seeds (1000) of
# each from SEED (new ones each run by default). A failing seed replays exactly:
# make simulate SEED=<seed> SEEDS=1 TRACE=1 prints every step.
simulate:
	SPOOL_SIM_SEEDS=$(or $(SEEDS),1000) SPOOL_SIM_SEED=$(or $(SEED),$(shell date +%s)) \
	$(if $(TRACE),SPOOL_SIM_TRACE=1) $(CARGO) test --release --test simulation -- --nocapture

# The benchmark (not a test): scenarios a-e and group commit against brokers it starts;
# figures on stdout, JSON in target/bench/. `./target/release/spool-bench --help` for running it
# against any broker (--bootstrap, --broker-pid) or with custom parameters (--custom ...).
bench: build
	./target/release/spool-bench

# The same scenarios (a-e) on spool and on Apache Kafka (fresh single-node KRaft from the jars
# make test-deps lays out) in one run, with a table of spool/Kafka ratios; Kafka's own
# perf-test tools against both; replication on three spool brokers and on three Kafka nodes.
bench-vs-kafka: test-deps build
	./target/release/spool-bench --scenarios a,b,c,d,e,replication --versus-kafka

# The classic Java producer/consumer and Admin examples against a spawned broker (make test
# runs them too).
java-examples: test-deps build
	$(CARGO) test --release -p compat-tests --test java_examples

# Fuzzing (nightly and cargo-fuzz, installed if missing): each of FUZZ_TARGETS in turn for
# FUZZ_SECONDS, under AddressSanitizer, growing its corpus in fuzz/corpus/<target>; a finding
# stops the run and lands in fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/
# with the fix). make test replays the committed corpus and regressions on stable.
FUZZ_TARGETS ?= request_stream request_header request record_batch sasl
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -rss_limit_mb=2048 -malloc_limit_mb=300 -timeout=10
fuzz:
	./scripts/install-fuzz-deps.sh
	for target in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run -O $$target -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) || exit 1; \
	done

# The seed inputs the corpus started from (every advertised request at every version, ...).
fuzz-seeds:
	$(CARGO) test --release --lib write_fuzz_seeds -- --ignored

# Shrinks each target's corpus to the inputs that add coverage, before committing it.
fuzz-cmin:
	./scripts/install-fuzz-deps.sh
	for target in $(FUZZ_TARGETS); do $(CARGO) +nightly fuzz cmin -O $$target || exit 1; done

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

clean-data:
	rm -rf ./data
