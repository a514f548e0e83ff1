"""Constructor options that left the library, still accepted at their default value so that older `.keras` files,
whose configs carry them, keep loading (docs/experiments.md records what each option did)."""


def pop_removed_option(kwargs, name, default):
    """Removes `name` from `kwargs`; any value but the option's old `default` is a `ValueError` naming it."""
    if name in kwargs:
        value = kwargs.pop(name)
        if value != default:
            raise ValueError(
                f"{name} was removed from vqkeras; only its old default {default!r} is still accepted, so that "
                f"older .keras files load. Received: {name}={value!r}"
            )
    return kwargs
