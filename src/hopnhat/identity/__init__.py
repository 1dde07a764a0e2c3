"""Identity (định danh): who is asking, and what they may do.

The floor of the architecture: every part may import it, it imports none of them. It holds accounts (local or from
the city's OpenID provider), roles and the centers and units an account belongs to, server-side web sessions,
machine tokens, the generated secrets and the shared rate limits. Pages, the API and the CLI all ask it for a
:class:`~hopnhat.identity.principal.Principal`; services receive the principal and enforce the rules, so a page and
an API call get the same answer.
"""
