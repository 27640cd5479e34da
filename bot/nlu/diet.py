"""Rasa's DIETClassifier, loaded for prediction without a training step.

Training and prediction are Rasa's own. Only loading differs: to give its Keras
model weights of the right shapes, Rasa's `RasaModel.load` runs one training step
on an example batch, and tracing TensorFlow's training function for that step was
most of a model load here (about 13 of 17 s on the 2-core machine, on every Rasa
server start, promotion, rollback and evaluation). `QuickLoadDIETClassifier`
restores the saved weights as the prediction graph creates its variables
(TensorFlow's deferred restoration), then checks that every saved variable
outside the optimizer was restored; if anything is missing it loads the model
Rasa's way instead. Predictions are the same to the last bit
(tests/test_nlu_diet.py compares both loads).
"""

from __future__ import annotations

import logging
from typing import Any, Type

import tensorflow as tf
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIET, DIETClassifier
from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel

logger = logging.getLogger(__name__)


def saved_variables(model_file: str) -> list[str]:
    """Names of the model variables in a saved DIET checkpoint (not the optimizer's)."""
    return [
        name
        for name, _ in tf.train.list_variables(model_file)
        if name.startswith("model/") and not name.startswith("model/optimizer/")
    ]


class QuickLoadDIET(DIET):
    """DIET whose `load` restores weights without running a training step."""

    @classmethod
    def load(  # type: ignore[override]
        cls,
        model_file_name: str,
        model_data_example: RasaModelData,
        predict_data_example: RasaModelData | None = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> RasaModel:
        """Loads for prediction; Rasa's own load for fine-tuning or without an example."""

        def rasas_way() -> RasaModel:
            return super(QuickLoadDIET, cls).load(
                model_file_name,
                model_data_example,
                predict_data_example,
                finetune_mode,
                *args,
                **kwargs,
            )

        if finetune_mode or predict_data_example is None:
            return rasas_way()
        config = kwargs.get("config", {})
        model = cls(*args, **kwargs)
        model.compile(
            optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
            run_eagerly=config.get(RUN_EAGERLY),
        )
        # The optimizer's saved state is not needed to predict: partial on purpose.
        status = model.load_weights(model_file_name).expect_partial()
        model.run_inference(predict_data_example)  # creates the variables; each is restored
        try:
            status.assert_existing_objects_matched()
            saved = len(saved_variables(model_file_name))
            if saved != len(model.variables):
                raise AssertionError(f"{len(model.variables)} of {saved} variables restored")
        except AssertionError as missing:
            logger.warning("DIET quick load incomplete (%s); loading it Rasa's way", missing)
            return rasas_way()
        return model


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class QuickLoadDIETClassifier(DIETClassifier):
    """Rasa's DIETClassifier with `QuickLoadDIET` as its model (see the module docstring)."""

    @staticmethod
    def model_class() -> Type[RasaModel]:
        """The model class Rasa trains and loads."""
        return QuickLoadDIET
