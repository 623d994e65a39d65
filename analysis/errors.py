"""The one exception type for mistakes a user can make."""


class KitError(Exception):
    """Bad input, said in one line meant for a person.

    The command line prints the message and exits with code 2; anything else
    escaping is a defect in the kit.
    """
