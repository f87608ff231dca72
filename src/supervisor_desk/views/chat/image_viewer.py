"""An image attachment at full size: a scrollable window with Save as…; Escape closes it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.filenames import safe_filename


class ImageViewer(QDialog):
    """Not modal: the reader can keep the chat and several images open side by side."""

    def __init__(self, image: QImage, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(name)
        self.image = image
        self.name = name
        self.label = QLabel(self)
        self.label.setPixmap(QPixmap.fromImage(image))
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidget(self.label)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.save_button = QPushButton("Save as…", self)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)
        self.resize(min(1200, image.width() + 40), min(900, image.height() + 100))

    def save_to(self, dest: Path) -> bool:
        """Write the image (format from the file's suffix, PNG without one); says how it went."""
        dest = Path(dest)
        fmt = None if dest.suffix else b"PNG"
        if self.image.save(str(dest), fmt):
            self.status_label.setText(f"Saved {dest.name}")
            return True
        self.status_label.setText(f"Could not save {dest.name}")
        return False

    def _on_save_button_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save image", safe_filename(self.name, "image"),
            "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp)",
        )
        if name:
            self.save_to(Path(name))
