"""NNI's NAS-Bench-201 peewee models (same names, fields and indexes), bound to nasbench201.db, and
the store's extra tables, which hold what the official APIs (nas_201_api, nats_bench) return and
NNI's tables do not: arch strings by index, per-run details, per-epoch times and which per-epoch
keys the release holds (docs/formats.md#nb201-tables). NNI's three tables are unchanged by them."""
from __future__ import annotations

from peewee import CharField, FloatField, ForeignKeyField, IntegerField, Model

from ..database import JSONField, store_database
from ..registry import get
from .constants import DATASETS

db = store_database(get("nasbench201").db_filename)


class Nb201TrialConfig(Model):
    """A cell (NNI arch dict: edges '0_1'..'2_3' -> op) trained for 12 or 200 epochs on a dataset.

    There is a config for every meta arch × {12, 200} × 4 datasets (NNI's ids), trained or not.
    """
    arch = JSONField(index=True)
    num_epochs = IntegerField(index=True)
    num_channels = IntegerField()
    num_cells = IntegerField()
    dataset = CharField(max_length=20, index=True, choices=list(DATASETS))

    class Meta:
        database = db


class Nb201TrialStats(Model):
    """One training run (seed) of a config. Accuracies 0-100; losses NULL where the release has
    NaN; parameters and flops in millions; latency in seconds per batch; training_time is the
    last epoch's time × epochs, as NNI computes it; *_evaluation_time for the last epoch."""
    config = ForeignKeyField(Nb201TrialConfig, backref="trial_stats", index=True)
    seed = IntegerField()
    train_acc = FloatField()
    valid_acc = FloatField()
    test_acc = FloatField()
    ori_test_acc = FloatField()
    train_loss = FloatField(null=True)
    valid_loss = FloatField(null=True)
    test_loss = FloatField(null=True)
    ori_test_loss = FloatField(null=True)
    parameters = FloatField()
    latency = FloatField()
    flops = FloatField()
    training_time = FloatField()
    valid_evaluation_time = FloatField()
    test_evaluation_time = FloatField()
    ori_test_evaluation_time = FloatField()

    class Meta:
        database = db


class Nb201IntermediateStats(Model):
    """A run's metrics after `current_epoch` epochs (1-based); epochs with no metric are absent."""
    trial = ForeignKeyField(Nb201TrialStats, backref="intermediates", index=True)
    current_epoch = IntegerField(index=True)
    train_acc = FloatField(null=True)
    valid_acc = FloatField(null=True)
    test_acc = FloatField(null=True)
    ori_test_acc = FloatField(null=True)
    train_loss = FloatField(null=True)
    valid_loss = FloatField(null=True)
    test_loss = FloatField(null=True)
    ori_test_loss = FloatField(null=True)

    class Meta:
        database = db


MODELS = (Nb201TrialConfig, Nb201TrialStats, Nb201IntermediateStats)


class Nb201Arch(Model):
    """`meta_archs`: the release's arch string of every architecture index (configs 8 i + 1 .. 8 i + 8)."""
    arch_index = IntegerField(primary_key=True)
    arch_str = CharField(unique=True)

    class Meta:
        database = db


class Nb201TrialInfo(Model):
    """What a run (one row of nb201trialstats, same id) holds beyond NNI's columns: its architecture
    index, the mean of its latency list (NNI keeps the first value), its `arch_config` and the order
    of its evaluation sets (`eval_names`, comma-separated)."""
    trial = ForeignKeyField(Nb201TrialStats, primary_key=True)
    arch_index = IntegerField(index=True)
    latency_mean = FloatField()
    channels = IntegerField()
    num_cells = IntegerField()
    num_classes = IntegerField()
    eval_names = CharField()

    class Meta:
        database = db


class Nb201EpochSpan(Model):
    """Consecutive epochs `from_epoch`..`to_epoch` (1-based, like current_epoch) of a run over which its
    per-epoch times and the set of per-epoch keys the release holds do not change; a run's spans cover
    1..num_epochs once. A time is NULL where the release has no time for that epoch; a `has_*` flag is
    1 where it holds the metric (so a NULL in nb201intermediatestats is a NaN there, else a missing key)."""
    trial = ForeignKeyField(Nb201TrialStats, index=True)
    from_epoch = IntegerField()
    to_epoch = IntegerField()
    train_time = FloatField(null=True)
    x_valid_time = FloatField(null=True)
    x_test_time = FloatField(null=True)
    ori_test_time = FloatField(null=True)
    has_train_acc = IntegerField()
    has_train_loss = IntegerField()
    has_x_valid_acc = IntegerField()
    has_x_valid_loss = IntegerField()
    has_x_test_acc = IntegerField()
    has_x_test_loss = IntegerField()
    has_ori_test_acc = IntegerField()
    has_ori_test_loss = IntegerField()

    class Meta:
        database = db


# Tables beyond NNI's, written, published, verified and checked with them (registry.Benchmark.extra_models).
EXTRA_MODELS = (Nb201Arch, Nb201TrialInfo, Nb201EpochSpan)
