examples = Beispiele:
