"""NNI's NAS-Bench-201 peewee models (same names, fields and indexes), bound to nasbench201.db."""
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
