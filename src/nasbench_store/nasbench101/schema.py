"""NNI's NAS-Bench-101 peewee models (same names, fields and indexes), bound to the store."""
from __future__ import annotations

from peewee import CharField, FloatField, ForeignKeyField, IntegerField, Model

from ..database import JSONField, store_database
from ..registry import get

db = store_database(get("nasbench101").db_filename)


class Nb101TrialConfig(Model):
    """One cell (NNI arch dict) trained for `num_epochs` epochs; `hash` is nasbench's graph hash."""
    arch = JSONField(index=True)
    num_vertices = IntegerField(index=True)
    hash = CharField(max_length=64, index=True)
    num_epochs = IntegerField(index=True)

    class Meta:
        database = db


class Nb101TrialStats(Model):
    """One training run of a config. Accuracies 0-100, parameters in millions, training_time in
    seconds (NNI's own converter multiplies it by 60 by mistake; this store does not)."""
    config = ForeignKeyField(Nb101TrialConfig, backref="trial_stats", index=True)
    train_acc = FloatField()
    valid_acc = FloatField()
    test_acc = FloatField()
    parameters = FloatField()
    training_time = FloatField()

    class Meta:
        database = db


class Nb101IntermediateStats(Model):
    """Halfway and final evaluations of a run (current_epoch = epochs // 2 and epochs)."""
    trial = ForeignKeyField(Nb101TrialStats, backref="intermediates", index=True)
    current_epoch = IntegerField(index=True)
    train_acc = FloatField()
    valid_acc = FloatField()
    test_acc = FloatField()
    training_time = FloatField()

    class Meta:
        database = db


MODELS = (Nb101TrialConfig, Nb101TrialStats, Nb101IntermediateStats)
