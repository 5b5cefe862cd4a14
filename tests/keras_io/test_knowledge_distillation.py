"""Port of keras-io ``examples/vision/knowledge_distillation.py`` (Keras 3 edition: the ``Distiller``
overrides ``compute_loss`` and ``call``; training uses the built-in ``train_step``).

Only the imports change. Substitutions: ``layers.LeakyReLU(negative_slope=0.2)`` ->
``layers.Activation("leaky_relu")`` (the same function, Keras 3's default slope is 0.2); the teacher's
256 / 512 filters -> 32 / 64 and the student's 16 / 32 -> 8 / 16; MNIST -> 512 + 128 synthetic digits;
5 + 3 + 3 epochs -> 2 + 5 + 2 (the
distillation needs its 5: with alpha=0.1 the student loss weighs little, and on 512 samples it
climbs from chance only in the third epoch).
"""
import numpy as np

import gradflow as keras
from gradflow import layers, ops


class Distiller(keras.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(
        self,
        optimizer,
        metrics,
        student_loss_fn,
        distillation_loss_fn,
        alpha=0.1,
        temperature=3,
    ):
        """Configure the distiller.

        Args:
            optimizer: Keras optimizer for the student weights
            metrics: Keras metrics for evaluation
            student_loss_fn: Loss function of difference between student predictions and ground-truth
            distillation_loss_fn: Loss function of difference between soft student predictions and soft
                teacher predictions
            alpha: weight to student_loss_fn and 1-alpha to distillation_loss_fn
            temperature: Temperature for softening probability distributions.
                Larger temperature gives softer distributions.
        """
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature
        self.compute_loss_calls = 0

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        self.compute_loss_calls += 1
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)

        distillation_loss = self.distillation_loss_fn(
            ops.softmax(teacher_pred / self.temperature, axis=1),
            ops.softmax(y_pred / self.temperature, axis=1),
        ) * (self.temperature**2)

        loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        return loss

    def call(self, x):
        return self.student(x)


def make_teacher():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
            layers.Activation("leaky_relu"),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="teacher",
    )


def make_student():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
            layers.Activation("leaky_relu"),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="student",
    )


def test_knowledge_distillation(make_images):
    teacher = make_teacher()
    student = make_student()
    # Clone student for later comparison
    student_scratch = keras.models.clone_model(student)
    assert student_scratch.count_params() == student.count_params()
    # student: conv 3*3*1*8+8 = 80 (14x14x8), pool keeps 14x14, conv 3*3*8*16+16 = 1,168 (7x7x16),
    # flatten 784, dense 784*10+10 = 7,850 -> 9,098
    assert student.count_params() == 9098

    # Prepare the train and test dataset.
    (x_train, y_train), (x_test, y_test) = make_images(512, seed=0), make_images(128, seed=1)

    # Train teacher as usual
    teacher.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    teacher.fit(x_train, y_train, epochs=2, verbose=0)
    _, teacher_acc = teacher.evaluate(x_test, y_test, verbose=0)
    assert teacher_acc > 0.5

    # Initialize and compile distiller
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    student_before = [w.copy() for w in student.get_weights()]

    # Distill teacher to student
    history = distiller.fit(x_train, y_train, epochs=5, verbose=0)
    assert set(history.history) == {"loss", "sparse_categorical_accuracy"}
    assert distiller.compute_loss_calls >= 5 * 16  # the built-in train_step calls the override
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.allclose(student_before[0], student.get_weights()[0])

    # Evaluate student on test dataset
    results = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert results["sparse_categorical_accuracy"] > 0.5
    np.testing.assert_allclose(distiller.predict(x_test[:4], verbose=0), student.predict(x_test[:4], verbose=0),
                               rtol=1e-6)

    # Train student as done usually
    student_scratch.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    # Train and evaluate student trained from scratch.
    student_scratch.fit(x_train, y_train, epochs=2, verbose=0)
    _, scratch_acc = student_scratch.evaluate(x_test, y_test, verbose=0)
    assert scratch_acc > 0.5
