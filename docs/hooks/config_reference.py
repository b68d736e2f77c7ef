"""MkDocs hook: the config reference page, generated from the schemas each time the site is built."""

from mkdocs.structure.files import File

from genolewm.config_reference import markdown


def on_files(files, config):
    files.append(File.generated(config, "reference/config.md", content=markdown()))
    return files
