"""A griffe extension for the docs site: reST roles in docstrings become inline code.

numrnn's docstrings cross-reference with Sphinx roles (``:func:`numrnn.save```,
``:class:`~numrnn.errors.GradError```), which ``help()`` shows as they are but
Markdown would print with the role's colons. On the site they read as the object's
name in code: the full path, or its last part after ``~`` as Sphinx does.
"""

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|exc|obj|data|const):`(~?)([^`]+)`")


def as_code(match):
    path = match.group(2)
    return f"`{path.rsplit('.', 1)[-1] if match.group(1) else path}`"


class RestRolesAsCode(griffe.Extension):
    """Rewrites every docstring griffe loads, before mkdocstrings parses its sections."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(as_code, obj.docstring.value)
