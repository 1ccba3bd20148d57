"""The X/Y/Z plot's grid: the cells' pictures in rows and columns, the X values over the columns and the Y values
beside the rows (A1111's draw_grid_annotations, in Pillow's own font), and one sheet per Z value side by side
under its title. A cell that was not made (a Stop) stays blank.
"""

from __future__ import annotations

import textwrap

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
BLANK = (128, 128, 128)  # a cell left unmade


def _font(size: tuple[int, int]) -> ImageFont.ImageFont:
    # A1111's size, (width + height) / 25, but never too small to read beside tiny pictures
    return ImageFont.load_default(size=max(12, (size[0] + size[1]) // 25))


def _wrapped(text: str, font, width: int) -> list[str]:
    if not text:
        return []
    average = max(1.0, font.getlength("x"))
    return textwrap.wrap(text, max(1, int(width / average))) or [text]


def _line_height(font) -> int:
    top, bottom = font.getbbox("Ag")[1], font.getbbox("Ag")[3]
    return int((bottom - top) * 1.4) + 1


def grid(pictures: list[list], x_labels: list[str], y_labels: list[str], legend: bool = True,
         margin: int = 0) -> Image.Image:
    """pictures[row][column] (None: blank) in a grid with its labels; each in a cell as large as the largest
    (a Size axis makes them differ), in its middle."""
    made = [picture for row in pictures for picture in row if picture is not None]
    width, height = max(p.width for p in made), max(p.height for p in made)
    size = (width, height)
    rows, columns = len(pictures), len(pictures[0])
    font = _font(size)
    line = _line_height(font)
    show_x = legend and any(x_labels)
    show_y = legend and any(y_labels)
    x_lines = [_wrapped(label, font, width) for label in x_labels] if show_x else []
    top = (max(len(lines) for lines in x_lines) * line + line // 2) if x_lines else 0
    left = (min(width * 3 // 2, max(int(font.getlength(label)) for label in y_labels) + line)) if show_y else 0
    sheet = Image.new("RGB", (left + columns * width + (columns - 1) * margin,
                              top + rows * height + (rows - 1) * margin), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for row, pictures_of_row in enumerate(pictures):
        for column, picture in enumerate(pictures_of_row):
            at = (left + column * (width + margin), top + row * (height + margin))
            if picture is None:
                sheet.paste(Image.new("RGB", size, BLANK), at)
            else:
                sheet.paste(picture.convert("RGB"), (at[0] + (width - picture.width) // 2,
                                                     at[1] + (height - picture.height) // 2))
    for column, lines in enumerate(x_lines):
        for i, text in enumerate(lines):
            middle = left + column * (width + margin) + width / 2
            draw.text((middle, line // 4 + i * line), text, fill=INK, font=font, anchor="ma")
    if show_y:
        for row, label in enumerate(y_labels):
            lines = _wrapped(label, font, left - line // 2)
            middle = top + row * (height + margin) + height / 2 - len(lines) * line / 2
            for i, text in enumerate(lines):
                draw.text((left - line // 4, middle + i * line), text, fill=INK, font=font, anchor="ra")
    return sheet


def side_by_side(sheets: list[Image.Image], titles: list[str] | None) -> Image.Image:
    """The Z values' sheets in one row, each under its title."""
    font = _font(sheets[0].size if sheets[0].width < 512 else (512, 0))
    line = _line_height(font)
    top = line + line // 2 if titles and any(titles) else 0
    gap = line
    width = sum(sheet.width for sheet in sheets) + gap * (len(sheets) - 1)
    combined = Image.new("RGB", (width, top + max(sheet.height for sheet in sheets)), BACKGROUND)
    draw = ImageDraw.Draw(combined)
    x = 0
    for i, sheet in enumerate(sheets):
        combined.paste(sheet, (x, top))
        if top:
            draw.text((x + sheet.width / 2, line // 4), titles[i], fill=INK, font=font, anchor="ma")
        x += sheet.width + gap
    return combined
