"""``keras.preprocessing.image``."""
from ..utils.image_files import array_to_img, img_to_array, load_img, save_img

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img"]
