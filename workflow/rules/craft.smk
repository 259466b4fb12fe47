# CRAFT (Fel et al.): filled in by the CRAFT issue.


def craft_targets():
    return []
