"""NNI's NDS peewee models (same names, fields and indexes), bound to the store's nds.db."""
from __future__ import annotations

from peewee import CharField, FloatField, ForeignKeyField, IntegerField, Model

from ..database import JSONField, store_database
from ..registry import get
from .constants import DATASETS, GENERATORS, MODEL_FAMILIES

db = store_database(get("nds").db_filename)


class NdsTrialConfig(Model):
    """One design: family, model/cell spec (JSON), sweep labels and the training schedule.

    `cell_spec` is `{}` outside the `nas_cell` family; the reduce cell's keys are counted from its
    own genotype.
    """
    model_family = CharField(max_length=20, index=True, choices=list(MODEL_FAMILIES))
    model_spec = JSONField(index=True)
    cell_spec = JSONField(index=True, null=True)
    dataset = CharField(max_length=15, index=True, choices=list(DATASETS))
    generator = CharField(max_length=15, index=True, choices=list(GENERATORS))
    proposer = CharField(max_length=15, index=True)
    base_lr = FloatField()
    weight_decay = FloatField()
    num_epochs = IntegerField()

    class Meta:
        database = db


class NdsTrialStats(Model):
    """One trained model. Accuracies 0-100 (100 - error), losses NULL where NaN, parameters and
    flops in millions, iter_time in seconds per iteration."""
    config = ForeignKeyField(NdsTrialConfig, backref="trial_stats", index=True)
    seed = IntegerField()
    final_train_acc = FloatField()
    final_train_loss = FloatField(null=True)
    final_test_acc = FloatField()
    best_train_acc = FloatField()
    best_train_loss = FloatField(null=True)
    best_test_acc = FloatField()
    parameters = FloatField()
    flops = FloatField()
    iter_time = FloatField()

    class Meta:
        database = db


class NdsIntermediateStats(Model):
    """One epoch of a trial (current_epoch 1..num_epochs)."""
    trial = ForeignKeyField(NdsTrialStats, backref="intermediates", index=True)
    current_epoch = IntegerField(index=True)
    train_loss = FloatField(null=True)
    train_acc = FloatField()
    test_acc = FloatField()

    class Meta:
        database = db


MODELS = (NdsTrialConfig, NdsTrialStats, NdsIntermediateStats)
